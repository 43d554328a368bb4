#!/usr/bin/env bash
# LSTM training throughput: hlstm's training engine (the lane kernel; oneDNN with
# HLSTM_TRAINING=onednn) vs PyTorch (torch.nn.LSTM + Linear + Adam)
# on the same model, data, batch, epochs and threads, alternating, RUNS runs each, at 1 and 2
# threads, for (L=60, K=3, S=10, B=256) and (L=5, K=2, S=25, B=256). Prints the medians,
# GFLOP/s, the final validation MAE of both, and last `RATIO lstm_train hlstm/torch = X`,
# X the smaller of the two configurations' 1-thread (per-core) ratios.
#
#   tools/bench/lstm.sh [build-dir]        (default build-lstm; RUNS=3)
#
# Takes /tmp/hlstm-build.lock for its whole run (builds and runs share 2 cores).
set -euo pipefail

LOCK=/tmp/hlstm-build.lock
if [[ -z "${HLSTM_BENCH_LOCKED:-}" ]]; then
    export HLSTM_BENCH_LOCKED=1
    exec flock "$LOCK" "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build-lstm}
RUNS=${RUNS:-3}
PY=/usr/bin/python3  # Debian's python3 with python3-torch
LR=1e-3

# Debian's torch calls whatever libblas.so.3 the alternatives point at: the reference BLAS
# unless an optimised one is installed. Compare against OpenBLAS: setup --with-python
# installs python3-torch and libopenblas0-pthread.
"$ROOT/tools/setup.sh" --with-python

if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD" -j2 --target hlstm_bench_lstm >/dev/null
BENCH="$BUILD/tests/model/hlstm_bench_lstm"
TORCH="$ROOT/tools/bench/lstm_torch.py"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
RESULTS="$TMP/results.txt"

echo "CPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; oneDNN $(grep -m1 DNNL_VERSION_MAJOR /usr/include/oneapi/dnnl/dnnl_version.h | awk '{print $3}').$(grep -m1 DNNL_VERSION_MINOR /usr/include/oneapi/dnnl/dnnl_version.h | awk '{print $3}').$(grep -m1 DNNL_VERSION_PATCH /usr/include/oneapi/dnnl/dnnl_version.h | awk '{print $3}')"
"$PY" "$TORCH" blas
PEAK=$("$BENCH" peak)
echo "$PEAK"

# name L K S B points epochs: synthetic trend + seasonal + noise series of 89 epochs, every
# window (stride 1), 70/30 split of points; epochs chosen for ~3-10 s per run.
CONFIGS=("A 60 3 10 256 1500 3" "B 5 2 25 256 300 30")
for config in "${CONFIGS[@]}"; do
    read -r name L K S B P E <<<"$config"
    data="$TMP/data_$name.bin"
    dump=$("$BENCH" dump out="$data" L="$L" points="$P" seed=1)
    echo "DATA $name L=$L K=$K S=$S B=$B epochs=$E lr=$LR: ${dump#DUMP * }"
    for threads in 1 2; do
        for run in $(seq 1 "$RUNS"); do
            # Alternate the two engines so that drifts of the machine hit both alike.
            line=$(OMP_NUM_THREADS=$threads "$BENCH" train L="$L" K="$K" S="$S" batch="$B" epochs="$E" \
                threads="$threads" lr="$LR" points="$P" seed=1 init_seed="$run")
            echo "config=$name threads=$threads run=$run $line" | tee -a "$RESULTS"
            # torch parallelises with its own OpenMP threads; OpenBLAS's pthreads on top of them
            # made torch 3-4x slower at 2 threads here, so OpenBLAS runs single-threaded.
            line=$(OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=1 "$PY" "$TORCH" "$data" "$K" "$S" "$B" "$E" "$threads" "$LR" "$run")
            echo "config=$name threads=$threads run=$run $line" | tee -a "$RESULTS"
        done
    done
done

"$PY" - "$RESULTS" "$PEAK" <<'EOF'
import re
import statistics
import sys

peak = float(re.search(r"fp32_gflops=([0-9.]+)", sys.argv[2]).group(1))

rows = []
for line in open(sys.argv[1]):
    fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
    rows.append(fields)

shape = {"A": "L=60 K=3 S=10 B=256", "B": "L=5 K=2 S=25 B=256"}
ratios = {}
for name in ("A", "B"):
    for threads in ("1", "2"):
        sel = {e: [r for r in rows if r["config"] == name and r["threads"] == threads and r["engine"] == e]
               for e in ("hlstm", "torch")}
        med = {e: statistics.median(float(r["samples_per_s"]) for r in sel[e]) for e in sel}
        gf = {e: statistics.median(float(r["gflops"]) for r in sel[e]) for e in sel}
        executed = statistics.median(float(r["gflops_executed"]) for r in sel["hlstm"])
        mae = {e: statistics.median(float(r["val_mae"]) for r in sel[e]) for e in sel}
        ratio = med["hlstm"] / med["torch"]
        ratios[(name, threads)] = ratio
        kernel = sel["hlstm"][0].get("kernel", "onednn")
        print("SUMMARY %s threads=%s: hlstm (%s) %.0f samples/s (%.1f GFLOP/s model, %.1f executed), "
              "torch %.0f samples/s (%.1f GFLOP/s), ratio %.2f; validation MAE hlstm %.4f mm, "
              "torch %.4f mm (%+.1f%%)"
              % (shape[name], threads, kernel, med["hlstm"], gf["hlstm"], executed, med["torch"], gf["torch"],
                 ratio, mae["hlstm"], mae["torch"], 100 * (mae["hlstm"] / mae["torch"] - 1)))
        if threads == "1" and peak > 0:
            print("PEAK_FRACTION %s: hlstm %.1f%% (model flops) / %.1f%% (executed, padded) of one "
                  "core's %.0f GFLOP/s FP32 peak; torch %.1f%%"
                  % (shape[name], 100 * gf["hlstm"] / peak, 100 * executed / peak, peak,
                     100 * gf["torch"] / peak))
print("RATIO lstm_train hlstm/torch = %.2f" % min(ratios[("A", "1")], ratios[("B", "1")]))
EOF
