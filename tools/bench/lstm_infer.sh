#!/usr/bin/env bash
# Inference throughput of a trained network (issue 22): hlstm's lane kernel (Network::predict)
# against oneDNN's forward_inference (HLSTM_INFERENCE=onednn, batch 256) and PyTorch
# (torch.nn.LSTM + Linear under torch.no_grad(), OpenBLAS) on the same N windows and weights, one
# thread each, cangzhou's grid point by default (L = 60, K = 3, S = 10, 1 channel, Y = 1).
# PyTorch runs at batch 256 and 4096 and its faster one counts. Checks the outputs agree and
# ends with `RATIO lstm_infer torch/hlstm = X` (PyTorch's seconds over hlstm's; higher is better).
#
#   tools/bench/lstm_infer.sh [--build DIR] [--windows N] [--window L] [--layers K] [--units S]
#
# Builds under /tmp/hlstm-build.lock and holds it while timing (RUNS=3 runs each, medians).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build-bench
N=40000
L=60
K=3
S=10
RUNS=${RUNS:-3}
PY=/usr/bin/python3  # Debian's python3 with python3-torch
while [[ $# -gt 0 ]]; do
    case $1 in
        --build) BUILD=$2; shift 2 ;;
        --windows) N=$2; shift 2 ;;
        --window) L=$2; shift 2 ;;
        --layers) K=$2; shift 2 ;;
        --units) S=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 1 ;;
    esac
done
LOCK=/tmp/hlstm-build.lock
exec 9>"$LOCK"
flock 9
# Debian's torch uses the libblas.so.3 the alternatives point at: OpenBLAS once installed.
"$ROOT/tools/setup.sh" --with-python >/dev/null
[[ -f "$BUILD/CMakeCache.txt" ]] || cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j2 --target hlstm_bench_lstm_infer >/dev/null
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export OMP_NUM_THREADS=1
echo "CPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $N windows, L=$L K=$K S=$S, 1 thread"
"$PY" "$ROOT/tools/bench/lstm_torch.py" blas
"$BUILD/tests/model/hlstm_bench_lstm_infer" "$TMP" "$N" "$L" "$K" "$S" "$RUNS" | tee "$TMP/hlstm.txt" | grep -v RESULT
"$PY" "$ROOT/tools/bench/lstm_infer_torch.py" "$TMP" "$N" "$L" "$K" "$S" "$RUNS" 1 256 4096 | tee "$TMP/torch.txt" |
    grep -v RESULT
read -r _ _ HL _ ON < <(grep '^RESULT' "$TMP/hlstm.txt")
TORCH=$(grep '^RESULT' "$TMP/torch.txt" | awk 'NR == 1 || $4 < best {best = $4} END {print best}')
BAD=$(grep '^RESULT' "$TMP/torch.txt" | awk '$5 > 1e-4 {print $3}')
[[ -z $BAD ]] || { echo "torch and hlstm disagree (batch $BAD)"; exit 1; }
printf "RATIO lstm_infer onednn/hlstm = %.2f\n" "$(echo "$ON / $HL" | bc -l)"
printf "RATIO lstm_infer torch/hlstm = %.2f\n" "$(echo "$TORCH / $HL" | bc -l)"
