#!/usr/bin/env bash
# Benchmark (not a test): hlstm end to end against the same method written plainly in Python
# (tools/bench/e2e_python.py: h5py, scikit-learn K-means + Davies-Bouldin, SciPy Delaunay and
# connected components, one PyTorch LSTM per subregion, NumPy baselines) on the same simulated
# scene (POINTS x 89 epochs, default 60,000) and configuration (configs/cangzhou.toml: L 60,
# K 3, S 10, 30 epochs, batch 256, Adam 1e-3, the latest window per point, 70/30 split), with
# the same threads (hlstm: 2 ranks x 1 thread; Python: torch and BLAS 2 threads). Both wall
# times are of the whole process (start-up, read, partition, training, forecasts, baselines,
# metrics; hlstm also writes its file). The same work: the Python HLSTM judges each network once
# after training, so hlstm runs without its per-epoch validation curve (--train.curves false,
# ~14 % of a candidate's fit; every forecast and score is the same without it). Everything hlstm
# does beyond the peer stays in its time: the selection cuts, intervals, positions, local_annual.
# Prints both methods tables and ends with
# `RATIO e2e reference/hlstm = X`.
#
#   tools/bench/e2e.sh [--points N] [--epochs E] [--build DIR] [--workdir DIR]
#
# Builds under /tmp/hlstm-build.lock and holds it while both run.
set -euo pipefail
SELF=$(realpath "${BASH_SOURCE[0]}")
ROOT=$(cd "$(dirname "$SELF")/../.." && pwd)
POINTS=60000
EPOCHS=30
BUILD=${HLSTM_BUILD:-$ROOT/build-bench}
WORK=${TMPDIR:-/tmp}/hlstm-bench-e2e
LOCK=/tmp/hlstm-build.lock
PY=/usr/bin/python3
while [[ $# -gt 0 ]]; do
    case $1 in
        --points) POINTS=$2; shift 2 ;;
        --epochs) EPOCHS=$2; shift 2 ;;
        --build) BUILD=$2; shift 2 ;;
        --workdir) WORK=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 1 ;;
    esac
done
# The Python peer's packages (PyTorch, scikit-learn, SciPy, h5py from Debian) when missing, as
# lstm.sh and partition.sh do: on a fresh machine the reference would otherwise stop at `import torch`.
"$ROOT/tools/setup.sh" --with-python
source "$ROOT/tools/bench/bench_build.sh"
build_hlstm
exec 9>"$LOCK"
flock 9
SCENE=$WORK/scene.h5
rm -f "$SCENE" "$WORK/out.h5"
"$HLSTM" simulate --kind scene --points "$POINTS" --epochs 89 --seed 1 -o "$SCENE" >/dev/null 2>&1
t0=$(date +%s.%N)
mpiexec -n 2 --oversubscribe --bind-to none "$HLSTM" run --config "$ROOT/configs/cangzhou.toml" --input "$SCENE" \
    -o "$WORK/out.h5" --train.epochs "$EPOCHS" --train.curves false >"$WORK/hlstm.log" 2>&1 || { tail -20 "$WORK/hlstm.log"; exit 1; }
t1=$(date +%s.%N)
OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 "$PY" "$ROOT/tools/bench/e2e_python.py" "$SCENE" \
    --epochs "$EPOCHS" --threads 2 >"$WORK/python.log" 2>&1 || { tail -20 "$WORK/python.log"; exit 1; }
t2=$(date +%s.%N)
hl=$(echo "$t1 - $t0" | bc -l)
py=$(echo "$t2 - $t1" | bc -l)
echo "hlstm (2 ranks x 1 thread), $POINTS points x 89 epochs, $EPOCHS training epochs: wall $(printf %.1f "$hl") s"
grep -A9 "^ *method .*MAE truth" "$WORK/hlstm.log" | awk 'NR == 1 {print "method MAE MAE_truth"; next} {print $1, $2, $6}' |
    column -t | sed 's/^/    /'
sed -n '/phase timings/,/total/p' "$WORK/hlstm.log" | sed 's/^/    /'
echo "Python reference (torch/BLAS 2 threads): wall $(printf %.1f "$py") s"
sed 's/^/    /' "$WORK/python.log" | grep -v "^    subregion"
printf "RATIO e2e reference/hlstm = %.2f\n" "$(echo "$py / $hl" | bc -l)"
