#!/usr/bin/env bash
# One command for a fresh Debian 12 machine: install what is missing, build, and run the
# main job - hlstm run with 2 ranks on a simulated scene (configs/demo.toml) - then print
# the metrics table and where the results are.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cmake --preset default >/dev/null
cmake --build --preset default -j "$(nproc)" --target hlstm
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
out=${HLSTM_DEMO_DIR:-$PWD/demo-output}
mkdir -p "$out"
echo "demo: hlstm run with 2 ranks on a simulated scene (configs/demo.toml); log: $out/run.log"
mpiexec -n 2 --oversubscribe --bind-to none build/hlstm run --config configs/demo.toml -o "$out/result.h5" 2>&1 |
  tee "$out/run.log" | grep -E "plan:|subregion [0-9]+.*points|holdout forecast|^ +(sub|[0-9]+) |methods on the same|compute seconds|^ +(method|HLSTM|persistence|window_mean|velocity|linear_trend|ses|ar|mlr|global_lstm|rnn) |selection:|intervals:|wrote|total"
echo
echo "demo: results in $out/result.h5 (hlstm-output: /points, /forecast with intervals, /subregions with the"
echo "      method that won each, /baselines, /grid_search, /partition, /models, /metrics); input scene in"
echo "      $out/result.h5.input.h5; full log in $out/run.log"
