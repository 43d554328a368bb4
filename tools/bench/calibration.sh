#!/usr/bin/env bash
# Benchmark (not a test): how right the cost model's expected training time is on this
# machine. For each case, `hlstm run --dry-run` and then the real run, both at --ranks ranks
# (default 2, 1 thread each), on the same scene; prints the dry run's expected training time,
# the run's own estimate and the measured train phase, and last
# `RATIO calibration expected/measured = X`: the dry-run figure farthest from 1 over the
# cases (the goal is 0.75..1.25, so that `sbatch --time` can be sized from a dry run).
#
#   tools/bench/calibration.sh [--ranks N] [--build DIR] [--workdir DIR]
#
# Cases: `grid` - configs/demo.toml's grid (L 24,48 x K 1,2, stride-6 windows) on a
# 20,000-point scene, candidates trained alone; `dominant` - configs/cangzhou.toml's fixed
# candidate on single_subregion.sh's scene (one subregion ~90 % of the points), trained
# data-parallel. Takes /tmp/hlstm-build.lock itself for the build and the timed runs.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${HLSTM_BUILD:-$ROOT/build-bench}
WORK=${TMPDIR:-/tmp}/hlstm-bench-calibration
RANKS=2
LOCK=/tmp/hlstm-build.lock
while [[ $# -gt 0 ]]; do
  case $1 in
    --ranks) RANKS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --workdir) WORK=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 1 ;;
  esac
done
source "$ROOT/tools/bench/bench_build.sh"
build_hlstm
hlstm="$HLSTM"
exec 9>"$LOCK"
flock 9  # the timed runs must see idle cores

expected() { grep -o 'expected training wall time: ~[0-9.]*' "$1" | head -1 | sed 's/.*~//'; }
measured() { awk '$1 == "train" && $3 == "s" {print $2}' "$1"; }

worst=1
run_case() {  # name points seed config args...
  local name=$1 points=$2 seed=$3 config=$4
  shift 4
  "$hlstm" simulate --kind scene --points "$points" --epochs 89 --seed "$seed" -o "$WORK/$name.h5" 2>/dev/null
  mpiexec -n "$RANKS" --oversubscribe --bind-to none "$hlstm" run --config "$config" --input "$WORK/$name.h5" \
    -o "$WORK/$name-out.h5" --dry-run "$@" >"$WORK/$name-dry.log" 2>&1
  mpiexec -n "$RANKS" --oversubscribe --bind-to none "$hlstm" run --config "$config" --input "$WORK/$name.h5" \
    -o "$WORK/$name-out.h5" "$@" >"$WORK/$name-run.log" 2>&1
  local dry own real
  dry=$(expected "$WORK/$name-dry.log")
  own=$(expected "$WORK/$name-run.log")
  real=$(measured "$WORK/$name-run.log")
  grep -E "^  (rank [0-9]+:|data-parallel)" "$WORK/$name-dry.log" | sed 's/^/    /'
  printf "%-9s %2d ranks: dry run %8.2f s (%+5.1f %%), the run's own estimate %8.2f s (%+5.1f %%), measured train phase %8.2f s\n" \
    "$name" "$RANKS" "$dry" "$(awk "BEGIN{print 100 * ($dry / $real - 1)}")" \
    "$own" "$(awk "BEGIN{print 100 * ($own / $real - 1)}")" "$real"
  worst=$(awk "BEGIN{r = $dry / $real; w = $worst; print ((r > 1 ? r - 1 : 1 - r) > (w > 1 ? w - 1 : 1 - w)) ? r : w}")
}

run_case grid 20000 1 "$ROOT/configs/demo.toml"
run_case dominant 40000 2 "$ROOT/configs/cangzhou.toml" --partition.k_min 2 --partition.k_max 2 --train.epochs 10 \
  --train.threads 1 --train.shard_share 0.05
printf "RATIO calibration expected/measured = %.3f\n" "$worst"
