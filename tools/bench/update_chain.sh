#!/usr/bin/env bash
# Benchmark (not a test): the online use of issue 19. On a simulated scene (`hlstm simulate
# --kind scene`, atmosphere on), `hlstm run` as of epoch FIRST (input.until), then six
# `hlstm update`s adding one epoch each; the same six epochs forecast by six full runs (each
# refit as of the epoch before). Per step: the previous forecast's position MAE against the
# observed values and the truth for HLSTM and the best baseline (by observed MAE, from
# /update/mae), the 90 % interval coverage, the update's wall time beside the run's train phase
# and wall time (and their ratios, step by step: issue 19's line is per update), and the refit's
# HLSTM MAE of the same epoch. Ends with `RATIO update_vs_run_train a/b = X` and
# `RATIO update_vs_run_wall a/b = X` (medians of the six updates against the first run, same rank
# count), then `RATIO update_max_vs_run_train a/b = X` (the slowest of the six).
#
#   tools/bench/update_chain.sh [--points N] [--ranks R] [--first E] [--seed S] [--build DIR] [--workdir DIR]
#                               [--mca-default] [--no-refits]
#
# --mca-default: every command with Open MPI's own transport selection (OMPI_MCA_pml set empty),
# not the single-node choice hlstm makes by itself (README "MPI start-up"); the run and the
# updates alike. --no-refits: the run and the chain only (the refit columns are NaN).
#
# The simulation takes /tmp/hlstm-cpu.lock alone, then the timed commands take it together.
set -euo pipefail
SELF=$(realpath "${BASH_SOURCE[0]}")
ROOT=$(cd "$(dirname "$SELF")/../.." && pwd)
POINTS=30000
RANKS=2
FIRST=83
SEED=2
BUILD=$ROOT/build
WORK=${TMPDIR:-/tmp}/hlstm-bench-update
while [[ $# -gt 0 ]]; do
    case $1 in
        --points) POINTS=$2; shift 2 ;;
        --ranks) RANKS=$2; shift 2 ;;
        --first) FIRST=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        --build) BUILD=$2; shift 2 ;;
        --workdir) WORK=$2; shift 2 ;;
        --simulated) SIMULATED=1; shift ;;
        --mca-default) MCA_DEFAULT=1; shift ;;
        --no-refits) NO_REFITS=1; shift ;;
        *) echo "unknown option $1" >&2; exit 1 ;;
    esac
done
SIMULATED=${SIMULATED:-}
MCA_DEFAULT=${MCA_DEFAULT:-}
NO_REFITS=${NO_REFITS:-}
[[ -n $MCA_DEFAULT ]] && export OMPI_MCA_pml=  # empty: Open MPI selects (and probes) as it would alone
PY=/usr/bin/python3
HLSTM=$BUILD/hlstm
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
MPI="mpiexec -n $RANKS --oversubscribe --bind-to none"
CONFIG="--config $ROOT/configs/demo.toml --train.threads 1"
mkdir -p "$WORK"
cd "$WORK"
SCENE=scene.h5
if [[ -z $SIMULATED ]]; then
    rm -f ./*.h5 ./*.log ./*.time
    timeout 600 flock /tmp/hlstm-cpu.lock $HLSTM simulate --kind scene --points "$POINTS" --epochs 89 --seed "$SEED" \
        -o $SCENE >sim.log 2>&1
fi
date_of() { $PY -c "import h5py; print(h5py.File('$SCENE', 'r')['dates'][$1 - 1])"; }

# One timed command: wall seconds into $1.time, output into $1.log.
timed() {
    local name=$1
    shift
    local t0 t1
    t0=$(date +%s.%N)
    timeout 900 "$@" >"$name.log" 2>&1 || { tail -20 "$name.log"; exit 1; }
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l >"$name.time"
}

# The twelve timed commands hold /tmp/hlstm-cpu.lock together (about 3 minutes at 30,000
# points on 2 cores), so that no other job's wait or load falls between them.
if [[ -z ${HLSTM_BENCH_LOCKED:-} ]]; then
    HLSTM_BENCH_LOCKED=1 exec flock /tmp/hlstm-cpu.lock "$SELF" --points "$POINTS" --ranks "$RANKS" --first "$FIRST" \
        --seed "$SEED" --build "$BUILD" --workdir "$WORK" --simulated ${MCA_DEFAULT:+--mca-default} \
        ${NO_REFITS:+--no-refits}
fi
rm -rf ./run* ./update*

# The run as of epoch FIRST and the six refits (FIRST + 1 .. FIRST + 5 forecast the later epochs).
for k in 0 1 2 3 4 5; do
    [[ -n $NO_REFITS && $k -gt 0 ]] && break
    e=$((FIRST + k))
    timed "run$e" $MPI $HLSTM run $CONFIG --input $SCENE -o "run$e.h5" --input.until "$(date_of $e)"
done
# The chain: update j adds epoch FIRST + j.
prev=run$FIRST.h5
for j in 1 2 3 4 5 6; do
    e=$((FIRST + j))
    timed "update$e" $MPI $HLSTM update $CONFIG --models "$prev" --input $SCENE -o "update$e.h5" \
        --input.until "$(date_of $e)"
    prev=update$e.h5
done

$PY - "$FIRST" "$POINTS" "$RANKS" "${OMPI_MCA_pml-(single-node choice)}" <<'EOF'
import os, re, statistics, sys
import h5py, numpy as np
first, points, ranks = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
print("Open MPI PML: %s" % (sys.argv[4] or "OMPI_MCA_pml empty: Open MPI's own selection"))
scene = h5py.File("scene.h5", "r")
ids, disp, truth = scene["id"][:], scene["displacement"], scene["truth"]
row = {int(v): i for i, v in enumerate(ids)}

def phase(log, name):
    m = re.findall(r"^\s+%s\s+([0-9.]+) s" % name, open(log).read(), re.M)
    return float(m[-1]) if m else float("nan")

def judge(path, epoch):
    """HLSTM's position MAE of `path`'s next forecast at 1-based `epoch`, vs observed and truth."""
    f = h5py.File(path, "r")
    step1 = lambda name: f[name][:].reshape(len(f["points/id"]), -1)[:, 0]  # (points) or (points, Y)
    nc = step1("forecast/next_cumulative")
    lo, hi = step1("forecast/interval_low"), step1("forecast/interval_high")
    rows = np.array([row[int(v)] for v in f["points/id"][:]])
    obs, tru = disp[:, epoch - 1][rows], truth[:, epoch - 1][rows]
    ok = np.isfinite(nc)
    seen = ok & np.isfinite(obs)
    cov = np.isfinite(lo) & seen
    inside = (lo[cov] <= obs[cov]) & (obs[cov] <= hi[cov])
    return np.abs(nc[seen] - obs[seen]).mean(), np.abs(nc[ok] - tru[ok]).mean(), inside.mean()

run_train, run_wall = phase("run%d.log" % first, "train"), float(open("run%d.time" % first).read())
print("run as of epoch %d (%d points, %d rank(s)): wall %.2f s, train phase %.2f s, total (log) %.2f s"
      % (first, points, ranks, run_wall, run_train, phase("run%d.log" % first, "total")))
print("step epoch  | chain HLSTM obs/truth | best baseline obs/truth       | cover | refit HLSTM obs/truth cover "
      "| update wall s (train, total in log) | wall / run train, / run wall")
walls = []
for j in range(1, 7):
    e = first + j
    u = h5py.File("update%d.h5" % e, "r")
    methods = [m.decode() for m in u["update/method"][:]]
    mae, mt = u["update/mae"][:, 0], u["update/mae_truth"][:, 0]
    b = 1 + int(np.nanargmin(mae[1:]))
    prev = "run%d.h5" % first if j == 1 else "update%d.h5" % (e - 1)
    co, ct, cc = judge(prev, e)
    assert abs(co - mae[0]) < 1e-4, (co, mae[0])  # the file's score is the recomputed one
    refit = "run%d.h5" % (e - 1)
    ro, rt, rc = judge(refit, e) if os.path.exists(refit) else (float("nan"),) * 3
    wall = float(open("update%d.time" % e).read())
    walls.append(wall)
    print("%4d %5d  | %8.3f / %8.3f   | %-12s %7.3f / %7.3f | %.3f | %7.3f / %7.3f  %.3f  | %.2f (%.2f, %.2f)"
          "       | %.4f, %.4f"
          % (j, e, mae[0], mt[0], methods[b], mae[b], mt[b], u["update/coverage"][0], ro, rt, rc, wall,
             phase("update%d.log" % e, "train"), phase("update%d.log" % e, "total"), wall / run_train,
             wall / run_wall))
refit_walls = [float(open("run%d.time" % (first + k)).read()) for k in range(1, 6)
               if os.path.exists("run%d.time" % (first + k))]
print("refit runs' wall (s): " + ", ".join("%.2f" % w for w in refit_walls))
w = statistics.median(walls)
print("steps at or above 10 %% of the run's train phase: %d of 6; above 25 %% of its wall: %d of 6"
      % (sum(x >= 0.1 * run_train for x in walls), sum(x > 0.25 * run_wall for x in walls)))
print("RATIO update_vs_run_train a/b = %.4f" % (w / run_train))
print("RATIO update_vs_run_wall a/b = %.4f" % (w / run_wall))
print("RATIO update_max_vs_run_train a/b = %.4f" % (max(walls) / run_train))
EOF
