#!/usr/bin/env bash
# Benchmark (not a test): `hlstm partition` against a plain scikit-learn/SciPy KDP on one
# simulated scene, in the same invocation. Prints both partition times (velocity, k over
# k_min..k_max with the DB index, Delaunay, cut, components; reading excluded on both sides),
# the adjusted Rand index of the two subregion labelings, hlstm's wall time and peak memory
# (/usr/bin/time -v), and last `RATIO partition sklearn/hlstm = X`.
#
#   tools/bench/partition.sh [--points N] [--epochs E] [--ranks R] [--repeat N] [--no-sklearn]
#                            [--workdir DIR] [--build DIR]
#
# Defaults: 430476 points (the paper's Cangzhou size) x 89 epochs, 1 rank, median of 3 runs.
# Large-scale check (no peer; `hlstm partition` reads the whole archive into memory, so the
# epoch count sets the series' share of the peak):
#   tools/bench/partition.sh --points 5000000 --epochs 12 --no-sklearn
# The script takes /tmp/hlstm-build.lock itself for every build and timed run (the machine is
# shared): do not wrap it in flock.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
POINTS=430476
EPOCHS=89
RANKS=1
REPEAT=3
SKLEARN=1
WORK=${TMPDIR:-/tmp}/hlstm-bench-partition
BUILD=${HLSTM_BUILD:-$ROOT/build-bench}
LOCK=/tmp/hlstm-build.lock
PY=/usr/bin/python3

while [[ $# -gt 0 ]]; do
  case $1 in
    --points) POINTS=$2; shift 2 ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --ranks) RANKS=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --no-sklearn) SKLEARN=0; shift ;;
    --workdir) WORK=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 1 ;;
  esac
done
mkdir -p "$WORK"

# The peers (scikit-learn, SciPy) and the build tools; then (re)build hlstm (incremental).
"$ROOT/tools/setup.sh" --with-python
flock "$LOCK" cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DHLSTM_BUILD_TESTS=OFF >/dev/null
flock "$LOCK" cmake --build "$BUILD" -j2 --target hlstm >/dev/null
HLSTM=$BUILD/hlstm
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
if [[ $RANKS -gt 1 ]]; then CMD=(mpiexec -n "$RANKS" --bind-to none "$HLSTM"); else CMD=("$HLSTM"); fi

SCENE=$WORK/scene_${POINTS}x${EPOCHS}.h5
if [[ ! -f $SCENE ]]; then
  echo "simulating $POINTS points x $EPOCHS epochs -> $SCENE"
  flock "$LOCK" "$HLSTM" simulate --kind scene --points "$POINTS" --epochs "$EPOCHS" -o "$SCENE" 2>/dev/null
fi

# hlstm: REPEAT timed runs, the median partition time (root's 'total' phase) counts.
OUT=$WORK/partition_${POINTS}x${EPOCHS}.h5
times=()
for ((i = 1; i <= REPEAT; i++)); do
  flock "$LOCK" /usr/bin/time -v -o "$WORK/time.txt" "${CMD[@]}" partition "$SCENE" -o "$OUT" 2>"$WORK/hlstm.log"
  t=$(sed -n 's/.*phase timings (s):.* total \([0-9.]*\),.*/\1/p' "$WORK/hlstm.log" | tail -1)
  times+=("$t")
  echo "hlstm run $i: partition $t s, command wall $(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$WORK/time.txt"),"\
       "peak RSS $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time.txt") kB"
done
HLSTM_SECONDS=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
grep -E "chosen k|subregions from|phase timings" "$WORK/hlstm.log" | sed 's/^ *[0-9.]* \[r0\] INFO  /hlstm: /'
echo "hlstm partition time (median of $REPEAT) = $HLSTM_SECONDS s for $POINTS points, $RANKS rank(s), $(nproc) cores"

if [[ $SKLEARN -eq 1 ]]; then
  flock "$LOCK" "$PY" "$ROOT/tools/bench/partition_sklearn.py" "$SCENE" "$OUT" --hlstm-seconds "$HLSTM_SECONDS"
fi
