#!/usr/bin/env bash
# The jobs/*.sbatch scripts on a real single-node Slurm started here on loopback.
#   test_slurm.sh HLSTM_BINARY SOURCE_DIR
# Starts munged and slurmctld/slurmd (Slurm 22.05, no cgroups) in a private temp dir on free
# ports, simulates a small scene, then submits with `sbatch --wait`:
#   jobs/hlstm.sbatch            (mpirun, 2 ranks x 1 thread, default output path)
#   jobs/hlstm-array.sbatch      (two configs written here, --array=0-1)
#   jobs/hlstm-multinode.sbatch  (--nodes=1 here, srun --mpi=pmix)
# and checks every job's exit code and output: `complete` = 1, /points/x has one row per
# point the reader keeps (counted here from the input with h5dump), no <out>.tmp left.
# Skips (exit 0) only when the Slurm/munge programs are absent; anything else is a failure.
# HLSTM_TEST_SLURM_PATH: directories searched for the Slurm programs (default $PATH plus the
# sbin directories); HLSTM_TEST_KEEP=1 keeps the temp dir.
set -uo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 HLSTM_BINARY SOURCE_DIR" >&2
    exit 2
fi
hlstm="$(realpath "$1")"
src="$(realpath "$2")"
t_start=$SECONDS

# ---- Slurm present? -------------------------------------------------------------------
search="${HLSTM_TEST_SLURM_PATH:-$PATH:/usr/sbin:/sbin:/usr/local/sbin:/usr/local/bin:/usr/bin}"
find_tool() {
    local d IFS=:
    for d in $search; do
        [[ -n "$d" && -f "$d/$1" && -x "$d/$1" ]] && { echo "$d/$1"; return 0; }
    done
    return 1
}
missing=()
for tool in slurmctld slurmd munged sbatch; do
    find_tool "$tool" >/dev/null || missing+=("$tool")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "SKIP: Slurm packages absent (tools/setup.sh --with-slurm installs them)"
    echo "      not found: ${missing[*]} (searched $search)"
    exit 0
fi
slurmctld_bin="$(find_tool slurmctld)"
slurmd_bin="$(find_tool slurmd)"
munged_bin="$(find_tool munged)"
sbatch_bin="$(find_tool sbatch)"
# The clients and srun (used inside the jobs) come from the same directories.
PATH="$(dirname "$sbatch_bin"):$(dirname "$slurmctld_bin"):$(dirname "$munged_bin"):$PATH"
export PATH

die() {  # setup problems: not a skip
    echo "FAIL: $*" >&2
    exit 1
}
for tool in sinfo scontrol scancel squeue srun mpirun h5dump awk realpath; do
    command -v "$tool" >/dev/null || die "'$tool' not found (Slurm is installed, so this is an error)"
done
[[ -x "$hlstm" ]] || die "no hlstm binary at $hlstm"
for f in jobs/hlstm.sbatch jobs/hlstm-array.sbatch jobs/hlstm-multinode.sbatch configs/demo.toml; do
    [[ -f "$src/$f" ]] || die "missing $src/$f"
done

# Nothing from an enclosing job or the user's settings may leak into the jobs here.
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(SLURM_|SBATCH_|SRUN_|SALLOC_|HLSTM)' \
                                                 | grep -v '^HLSTM_TEST_')
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

# ---- private Slurm on loopback --------------------------------------------------------
# Short path: munge and slurmd put UNIX sockets under it (108-byte limit).
T="$(mktemp -d /tmp/hlstm-slurm.XXXXXX)" || die "mktemp failed"
chmod 755 "$T"  # munged wants every parent of its socket searchable by all
mkdir -p "$T/munge-key" "$T/munge-run" "$T/log" "$T/logs" "$T/work"
chmod 700 "$T/munge-key"
chmod 755 "$T/munge-run"
export SLURM_CONF="$T/slurm.conf"
munged_pid="" slurmctld_pid="" slurmd_pid="" sbatch_pid="" slurm_up=0

stop_pid() {  # stop_pid PID: TERM, wait up to 10 s, then KILL
    local pid=$1 i
    [[ -n "$pid" ]] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}
stop_slurm() {
    local i
    if [[ $slurm_up -eq 1 ]]; then
        # linuxproc does not kill running steps when slurmd stops: cancel jobs first.
        # (Clients retry an absent controller for long: only while it answered.)
        timeout 20 scancel --full --user="$(id -un)" >/dev/null 2>&1
        for ((i = 0; i < 100; i++)); do
            [[ -z "$(timeout 10 squeue -h -o %i 2>/dev/null)" ]] && break
            sleep 0.2
        done
        timeout 20 scontrol shutdown >/dev/null 2>&1
        for ((i = 0; i < 100; i++)); do
            kill -0 "$slurmctld_pid" 2>/dev/null || kill -0 "$slurmd_pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    stop_pid "$slurmd_pid"
    stop_pid "$slurmctld_pid"
    slurmd_pid="" slurmctld_pid="" slurm_up=0
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$sbatch_pid"
    stop_slurm
    stop_pid "$munged_pid"
    if [[ "${HLSTM_TEST_KEEP:-0}" = 1 ]]; then
        echo "kept $T"
    else
        rm -rf "$T"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

in_use_ports="" ctld_port="" slurmd_port=""
port_free() {  # nothing bound to, connected from or lingering on the port
    local p=$1
    [[ " $in_use_ports " == *" $p "* ]] && return 1
    if command -v ss >/dev/null; then
        ss -Htan 2>/dev/null | awk -v p=":$p" '$4 ~ p"$" || $5 ~ p"$" {found = 1} END {exit found}' || return 1
    fi
    ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null
}
pick_port() {  # pick_port VAR: below Linux's ephemeral range, so outgoing connections do not take it
    local i p
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 12000))
        if port_free "$p"; then in_use_ports+=" $p"; printf -v "$1" '%s' "$p"; return 0; fi
    done
    return 1
}

show_daemon_logs() {
    local f
    for f in "$T"/log/*; do
        [[ -s "$f" ]] || continue
        # slurmctld -D / slurmd -D repeat their log file on stderr once it is open
        [[ "$f" = *.out && -s "${f%.out}.log" ]] && continue
        echo "---- $f (last 30 lines)"
        tail -n 30 "$f"
    done
}

# munge: own key, own socket.
if command -v mungekey >/dev/null; then
    mungekey --create --keyfile="$T/munge-key/munge.key" >/dev/null 2>&1 || die "mungekey failed"
else
    dd if=/dev/urandom of="$T/munge-key/munge.key" bs=1024 count=1 status=none || die "cannot write a munge key"
fi
chmod 600 "$T/munge-key/munge.key"
"$munged_bin" --foreground --key-file="$T/munge-key/munge.key" --socket="$T/munge-run/munge.socket.2" \
    --pid-file="$T/munge-run/munged.pid" --seed-file="$T/munge-run/munged.seed" \
    --log-file="$T/log/munged.log" >"$T/log/munged.out" 2>&1 &
munged_pid=$!
for ((i = 0; i < 100; i++)); do
    [[ -S "$T/munge-run/munge.socket.2" ]] && break
    kill -0 "$munged_pid" 2>/dev/null || break
    sleep 0.1
done
[[ -S "$T/munge-run/munge.socket.2" ]] || { show_daemon_logs; die "munged did not create its socket"; }

write_slurm_conf() {  # write_slurm_conf CTLD_PORT SLURMD_PORT
    : >"$T/plugstack.conf"
    cat >"$SLURM_CONF" <<EOF
ClusterName=hlstmtest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$1
SlurmdPort=$2
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge-run/munge.socket.2
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
PlugStackConfig=$T/plugstack.conf
KillWait=5
MinJobAge=600
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

# A port taken between the check and the bind makes a daemon exit at once: try again.
for attempt in 1 2 3; do
    if ! pick_port ctld_port || ! pick_port slurmd_port; then die "no free TCP port found"; fi
    rm -rf "$T/state" "$T/spool"
    mkdir -p "$T/state" "$T/spool"
    write_slurm_conf "$ctld_port" "$slurmd_port"
    "$slurmctld_bin" -D -f "$SLURM_CONF" >"$T/log/slurmctld.out" 2>&1 &
    slurmctld_pid=$!
    "$slurmd_bin" -D -N localhost -f "$SLURM_CONF" >"$T/log/slurmd.out" 2>&1 &
    slurmd_pid=$!
    state="" died=0
    deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)); do
        state="$(sinfo -h -o %T 2>/dev/null)"
        [[ "$state" = idle ]] && break
        if ! kill -0 "$slurmctld_pid" 2>/dev/null || ! kill -0 "$slurmd_pid" 2>/dev/null; then died=1; break; fi
        # slurmctld keeps retrying a taken port for a minute before it gives up
        if grep -qs "Address already in use" "$T/log/slurmctld.out" "$T/log/slurmd.out"; then died=1; break; fi
        sleep 0.25
    done
    [[ "$state" = idle ]] && { slurm_up=1; break; }
    slurm_up=0
    echo "slurm did not come up (attempt $attempt, ports $ctld_port/$slurmd_port, node state '${state:-none}')"
    show_daemon_logs
    stop_slurm
    [[ $died -eq 1 ]] || die "the node did not become idle within 60 s"
done
[[ "$state" = idle ]] || die "slurmctld/slurmd did not start"
echo "slurm up in $((SECONDS - t_start)) s: slurmctld :$ctld_port, slurmd :$slurmd_port, conf $SLURM_CONF"

# ---- helpers for the jobs ------------------------------------------------------------
job_id=""
fail() {  # a job or its output is wrong: show everything that could explain it
    echo "FAIL: $*" >&2
    local f
    for f in "$T"/logs/*; do
        [[ -f "$f" ]] || continue
        echo "---- job log $f"
        cat "$f"
    done
    if [[ -n "$job_id" ]]; then
        echo "---- scontrol show job $job_id"
        timeout 20 scontrol show job "$job_id" 2>&1
    fi
    echo "---- squeue"
    timeout 20 squeue 2>&1
    show_daemon_logs
    exit 1
}

# submit NAME [VAR=VALUE...] -- SBATCH-ARGS...: sbatch --wait from $T/work with those
# variables in its environment (sbatch exports it all to the job); sets job_id; fails
# unless the job's exit code is 0.
submit() {
    local name=$1 t0=$SECONDS rc out vars=()
    shift
    while [[ $# -gt 0 && "$1" != -- ]]; do vars+=("$1"); shift; done
    shift
    # Every job takes seconds; the limit keeps the whole test inside ctest's 600 s.
    local limit=$((t_start + 540 - SECONDS))
    ((limit > 180)) && limit=180
    ((limit >= 10)) || fail "$name: no time left for it"
    # In the background, so that INT/TERM reach the EXIT trap at once.
    (cd "$T/work" && exec env "${vars[@]}" timeout "$limit" "$sbatch_bin" --parsable --wait "$@") \
        >"$T/sbatch-$name.out" 2>"$T/sbatch-$name.err" &
    sbatch_pid=$!
    wait "$sbatch_pid"
    rc=$?
    sbatch_pid=""
    out="$(head -n 1 "$T/sbatch-$name.out")"
    job_id="${out%%;*}"
    if [[ $rc -ne 0 ]]; then
        cat "$T/sbatch-$name.err" >&2
        [[ $rc -eq 124 ]] && fail "$name: sbatch --wait did not return within $limit s"
        fail "$name: sbatch --wait exit code $rc (job ${job_id:-not submitted})"
    fi
    echo "$name: job $job_id finished with exit code 0 in $((SECONDS - t0)) s"
}

# kept_points FILE MIN_VALID_FRACTION [HIDDEN]: the reader's rule (>= 2 valid epochs and at least
# that fraction, both counted on the visible epochs: all but the last HIDDEN = run.holdout, default
# 1), counted from h5dump's text, independently of hlstm.
kept_points() {
    local dims epochs
    dims="$(h5dump -H -d /displacement "$1" | sed -n 's/.*DATASPACE *SIMPLE { ( *\([0-9]*\), *\([0-9]*\) ).*/\1 \2/p')"
    epochs="${dims#* }"
    [[ -n "$dims" && "$epochs" -gt 0 ]] || return 1
    h5dump -A 0 -d /displacement -y -w 0 -m %.9g "$1" | awk -v m="$epochs" -v frac="$2" -v hidden="${3:-1}" '
        /DATA *\{/ && !done { inside = 1; next }
        inside && /^ *\}/ { inside = 0; done = 1 }
        inside {
            n = split($0, a, /[ ,]+/)
            for (j = 1; j <= n; j++) {
                if (a[j] == "") continue
                if (i % m < m - hidden && tolower(a[j]) !~ /nan/) valid[int(i / m)]++
                i++
            }
        }
        END {
            rows = i / m
            if (i == 0 || rows != int(rows)) exit 1
            for (r = 0; r < rows; r++) if (valid[r] >= 2 && valid[r] >= frac * (m - hidden)) kept++
            print kept + 0
        }'
}

# check_output NAME FILE EXPECTED_ROWS
check_output() {
    local name=$1 f=$2 want=$3 complete rows forecast
    [[ -f "$f" ]] || fail "$name: no output file $f"
    [[ ! -e "$f.tmp" ]] || fail "$name: $f.tmp left behind"
    complete="$(h5dump -a /complete "$f" 2>&1)" || fail "$name: h5dump -a /complete $f failed: $complete"
    grep -q 'H5T_STD_I32' <<<"$complete" || fail "$name: /complete is not int32: $complete"
    grep -Eq '^ *\(0\): 1$' <<<"$complete" || fail "$name: /complete is not 1: $complete"
    # Every input point is a row; /points/status is 0 (forecast) for exactly the kept ones.
    rows="$(h5dump -H -d /points/x "$f" | sed -n 's/.*DATASPACE *SIMPLE { ( *\([0-9]*\) ).*/\1/p')"
    [[ "$rows" = "$points" ]] || fail "$name: /points/x has '${rows:-?}' rows, the input has $points points"
    forecast="$(h5dump -y -w 1 -d /points/status "$f" | sed -n '/DATA {/,/}/p' | tr -d ' ,' | grep -cx '0')"
    [[ "$forecast" = "$want" ]] || fail "$name: /points/status is 0 for '${forecast:-?}' rows, the input keeps $want points"
    echo "$name: $f complete = 1, /points/x $rows rows = input points, status 0 for $forecast = kept points"
}

# check_log NAME LOG PATTERN...: the job log shows each fixed string
check_log() {
    local name=$1 log=$2 p
    shift 2
    [[ -f "$log" ]] || fail "$name: no job log $log"
    for p in "$@"; do
        grep -qF -- "$p" "$log" || fail "$name: job log $log lacks '$p'"
    done
}

# ---- input --------------------------------------------------------------------------
scene="$T/work/scene.h5"
points=4000 epochs=40
"$hlstm" simulate --kind scene --points $points --epochs $epochs --seed 7 -o "$scene" >"$T/log/simulate.out" 2>&1 \
    || { cat "$T/log/simulate.out"; die "hlstm simulate failed"; }
kept_half="$(kept_points "$scene" 0.5)" || die "cannot count the points of $scene"
kept_strict="$(kept_points "$scene" 0.95)" || die "cannot count the points of $scene"
echo "input: $points points x $epochs epochs simulated; kept at min_valid_fraction 0.5: $kept_half, at 0.95: $kept_strict"
((kept_half > 0 && kept_half <= points && kept_strict > 0 && kept_strict < kept_half)) \
    || die "unexpected kept counts $kept_half / $kept_strict of $points"

small="--partition.min_points 300 --grid.L 10 --grid.K 1 --grid.S 8 --train.epochs 3"
ranks_line="2 rank(s) x 1 thread(s)"

# ---- 1. jobs/hlstm.sbatch: one node, mpirun, default output path ----------------------------
submit single HLSTM="$hlstm" HLSTM_CONFIG="$src/configs/demo.toml" HLSTM_INPUT="$scene" HLSTM_ARGS="$small" \
    -- --ntasks=2 --cpus-per-task=1 --time=4 -o "$T/logs/single-%j.out" "$src/jobs/hlstm.sbatch"
out="$T/work/results/hlstm-$job_id.h5"
check_log single "$T/logs/single-$job_id.out" "mpirun -n 2 --bind-to none" "OMP_NUM_THREADS=1" \
    "$ranks_line" "hlstm.sbatch: output: $out"
check_output single "$out" "$kept_half"

# ---- 2. jobs/hlstm-array.sbatch: two configs, one array task each ----------------------
cat >"$T/work/sweep-a.toml" <<EOF
[input]
path = "$scene"
min_valid_fraction = 0.5
[partition]
min_points = 300
[train]
epochs = 3
[grid]
L = [10]
K = [1]
S = [8]
EOF
cat >"$T/work/sweep-b.toml" <<EOF
[input]
path = "$scene"
min_valid_fraction = 0.95
[partition]
min_points = 400
[train]
epochs = 2
[grid]
L = [8, 12]
K = [1]
S = [6]
EOF
# One relative, one absolute path: both are resolved from the submit directory.
submit array HLSTM="$hlstm" HLSTM_CONFIGS="sweep-a.toml $T/work/sweep-b.toml" \
    -- --array=0-1 --ntasks=2 --cpus-per-task=1 --time=4 -o "$T/logs/array-%A_%a.out" "$src/jobs/hlstm-array.sbatch"
array_id=$job_id
for i in 0 1; do
    check_log "array[$i]" "$T/logs/array-${array_id}_$i.out" "$ranks_line" "hlstm-array.sbatch: output: "
done
check_output "array[0] sweep-a" "$T/work/results/sweep-$array_id/sweep-a.h5" "$kept_half"
check_output "array[1] sweep-b" "$T/work/results/sweep-$array_id/sweep-b.h5" "$kept_strict"

# ---- 3. jobs/hlstm-multinode.sbatch on this one node: srun --mpi=pmix ------------------
out="$T/work/results/multinode.h5"
submit multinode HLSTM="$hlstm" HLSTM_CONFIG="$src/configs/demo.toml" HLSTM_INPUT="$scene" HLSTM_ARGS="$small" \
    HLSTM_OUT="$out" -- --nodes=1 --time=4 -o "$T/logs/multinode-%j.out" "$src/jobs/hlstm-multinode.sbatch"
check_log multinode "$T/logs/multinode-$job_id.out" "srun --mpi=pmix" "$ranks_line" \
    "hlstm-multinode.sbatch: output: $out"
check_output multinode "$out" "$kept_half"

echo "PASS: jobs/hlstm.sbatch, jobs/hlstm-array.sbatch (2 configs), jobs/hlstm-multinode.sbatch on a real Slurm" \
     "($(sbatch --version)) in $((SECONDS - t_start)) s"
