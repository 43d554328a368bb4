#!/usr/bin/env bash
# Benchmark (not a test): national scale (issue 22). Simulates a scene of N points x 200 epochs
# (default 1,000,000), runs `hlstm run --config configs/cangzhou.toml --train.epochs 1` on it
# at 2 ranks, prints every phase, the peak memory per rank against its share of the
# displacement (N x 200 float32 / ranks; /truth aside), HLSTM beside the baselines, and ends
# with `RATIO around_training/train_epoch = X`: the seconds of every phase but train, divided
# by the train phase's (one training epoch); lower is better. The train phase also holds each
# candidate's selection scoring at the out-of-time cuts (a forward pass over the validation rows
# per cut): the run logs at debug level (the default here; HLSTM_LOG overrides it) and the
# script prints the train phase's split into the epochs, the rest of the fits and the scoring.
#
#   tools/bench/national.sh [--points N] [--epochs M] [--ranks R] [--build DIR] [--workdir DIR]
#                           [--args "--key value ..."] [--keep]
#
# Builds under /tmp/hlstm-build.lock and holds it while simulating and running (the timed run
# must see idle cores). The scene (2 x N x M x 4 bytes with /truth) and the output are deleted
# at the end unless --keep.
set -euo pipefail
SELF=$(realpath "${BASH_SOURCE[0]}")
ROOT=$(cd "$(dirname "$SELF")/../.." && pwd)
POINTS=1000000
EPOCHS=200
RANKS=2
BUILD=${HLSTM_BUILD:-$ROOT/build-bench}
WORK=${TMPDIR:-/tmp}/hlstm-bench-national
ARGS=""
KEEP=""
LOCK=/tmp/hlstm-build.lock
while [[ $# -gt 0 ]]; do
    case $1 in
        --points) POINTS=$2; shift 2 ;;
        --epochs) EPOCHS=$2; shift 2 ;;
        --ranks) RANKS=$2; shift 2 ;;
        --build) BUILD=$2; shift 2 ;;
        --workdir) WORK=$2; shift 2 ;;
        --args) ARGS="$ARGS $2"; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 1 ;;
    esac
done
source "$ROOT/tools/bench/bench_build.sh"
build_hlstm
MPI="mpiexec -n $RANKS --oversubscribe --bind-to none"
SCENE=$WORK/scene.h5
OUT=$WORK/out.h5
LOG=$WORK/run.log
cleanup() { [[ -n $KEEP ]] || rm -f "$SCENE" "$OUT"; }
trap cleanup EXIT
exec 9>"$LOCK"
flock 9
rm -f "$SCENE" "$OUT"
t0=$(date +%s.%N)
$MPI "$HLSTM" simulate --kind scene --points "$POINTS" --epochs "$EPOCHS" --seed 1 -o "$SCENE" >"$WORK/sim.log" 2>&1 ||
    { tail -5 "$WORK/sim.log"; exit 1; }
t1=$(date +%s.%N)
printf "simulate %d x %d: %.1f s, %s\n" "$POINTS" "$EPOCHS" "$(echo "$t1 - $t0" | bc -l)" "$(du -h "$SCENE" | cut -f1)"
# shellcheck disable=SC2086
HLSTM_LOG=${HLSTM_LOG:-debug} $MPI "$HLSTM" run --config "$ROOT/configs/cangzhou.toml" --input "$SCENE" -o "$OUT" --train.epochs 1 $ARGS \
    >"$LOG" 2>&1 || { tail -20 "$LOG"; exit 1; }
t2=$(date +%s.%N)
printf "run (%d ranks): wall %.1f s\n" "$RANKS" "$(echo "$t2 - $t1" | bc -l)"
grep -E "points kept|dropped" "$LOG" | head -3 | sed 's/^/    /' || true
grep -A 12 "^  method .*MAE truth" "$LOG" | sed 's/^/    /' || true
grep -E "peak memory phase|memory high-water" "$LOG" | sed 's/^/    /' || true
sed -n '/phase timings/,/peak memory per rank/p' "$LOG" | sed 's/^/    /'
# The displacement share: N x M float32 spread over the ranks (what a real archive holds).
share=$(awk -v n="$POINTS" -v m="$EPOCHS" -v r="$RANKS" 'BEGIN{printf "%.0f", n * m * 4 / r / 1048576}')
peaks=$(grep -o "peak memory per rank (MiB):.*" "$LOG" | sed 's/.*: //')
echo "displacement share per rank: $share MiB; peak / share:" \
    "$(echo "$peaks" | tr ',' '\n' | awk -v s="$share" '{printf "%s%s %.2f", (NR > 1 ? "," : ""), $1, $2 / s}')"
# The train phase's parts per rank (debug lines), the slowest rank's.
awk '/\] fit: [0-9]+ epochs in / { r = $2; for (i = 1; i < NF; ++i) if ($i == "in") { ep[r] += $(i + 1); fit[r] += $(i + 4) } }
     / selection score over .* in [0-9.]+ s/ { r = $2; for (i = 1; i < NF; ++i) if ($i == "in") sc[r] += $(i + 1) }
     END { for (r in fit) if (fit[r] + sc[r] > best) { best = fit[r] + sc[r]; b = r }
           if (b != "") printf "train phase of %s: epochs %.2f s, the rest of the fits (samples, validation) %.2f s, selection scoring at the cuts %.2f s\n",
                               b, ep[b], fit[b] - ep[b], sc[b] }' "$LOG"
awk '/phase timings/ {on = 1; next}
     on && $NF == "s" && NF >= 3 {
         name = $(NF - 2); sec = $(NF - 1)
         if (name == "total") { on = 0; next }
         if (name == "train") train = sec; else around += sec
     }
     END { printf "around training %.2f s, train (1 epoch) %.2f s\nRATIO around_training/train_epoch = %.3f\n",
                  around, train, around / train }' "$LOG"
