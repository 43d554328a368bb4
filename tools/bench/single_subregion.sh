#!/usr/bin/env bash
# Benchmark (not a test): data-parallel training of one dominant candidate, `hlstm run` at 1
# and 2 ranks (1 thread each) on a scene whose largest subregion holds ~90 % of the points and
# one candidate per subregion (the paper's fixed L = 60, K = 3, S = 10): without data-parallel
# training no allocation could finish faster than that candidate alone. Prints both wall
# times, checks that the outputs are identical (h5diff, /timing excluded), and last
# `RATIO data_parallel t1/t2 = X`.
#
#   tools/bench/single_subregion.sh [--points N] [--epochs E] [--repeat N] [--build DIR] [--workdir DIR]
#
# The 1- and 2-rank runs alternate --repeat times (default 3) and the medians are compared.
# Read, partition, baselines and write are included in the wall times.
# Takes /tmp/hlstm-build.lock itself for the build and the timed runs.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
POINTS=40000
EPOCHS=10
REPEAT=3
BUILD=${HLSTM_BUILD:-$ROOT/build-bench}
WORK=${TMPDIR:-/tmp}/hlstm-bench-single
LOCK=/tmp/hlstm-build.lock
while [[ $# -gt 0 ]]; do
  case $1 in
    --points) POINTS=$2; shift 2 ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --workdir) WORK=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 1 ;;
  esac
done
mkdir -p "$WORK"
flock "$LOCK" cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
flock "$LOCK" cmake --build "$BUILD" -j 2 --target hlstm >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
HLSTM="$BUILD/hlstm"
# Two velocity zones: on seed 2 the stable zone is one ~90 % subregion.
ARGS="--partition.k_min 2 --partition.k_max 2 --train.epochs $EPOCHS --train.threads 1"
exec 9>"$LOCK"
flock 9
"$HLSTM" simulate --kind scene --points "$POINTS" --epochs 89 --seed 2 -o "$WORK/scene.h5" 2>/dev/null

median() { tr ' ' '\n' | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
declare -A TIMES
for ((rep = 1; rep <= REPEAT; rep++)); do
  for ranks in 1 2; do
    out="$WORK/out$ranks.h5"
    start=$(date +%s.%N)
    mpiexec -n $ranks --oversubscribe --bind-to none "$HLSTM" run --config "$ROOT/configs/cangzhou.toml" \
      --input "$WORK/scene.h5" -o "$out" $ARGS >"$WORK/run$ranks.log" 2>&1
    end=$(date +%s.%N)
    t=$(awk "BEGIN{print $end - $start}")
    TIMES[$ranks]="${TIMES[$ranks]:-} $t"
    printf "run %d, ranks %d: wall %.2f s (train phase %s s)\n" $rep $ranks "$t" \
      "$(awk '$1 == "train" && $3 == "s" {print $2}' "$WORK/run$ranks.log")"
  done
done
grep -E "subregion [0-9]+:|data-parallel on all" "$WORK/run2.log" | sed 's/^/    /'
declare -A T
for ranks in 1 2; do
  T[$ranks]=$(echo ${TIMES[$ranks]} | median)
  printf "ranks %d: median wall %.2f s of%s\n" $ranks "${T[$ranks]}" "${TIMES[$ranks]}"
done
if h5diff --exclude-path /timing "$WORK/out1.h5" "$WORK/out2.h5" >/dev/null; then
  echo "outputs at 1 and 2 ranks: identical (h5diff, /timing excluded)"
else
  echo "outputs at 1 and 2 ranks: DIFFER" >&2; exit 1
fi
printf "RATIO data_parallel t1/t2 = %.3f\n" "$(awk "BEGIN{print ${T[1]} / ${T[2]}}")"
