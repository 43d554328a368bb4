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
# The plan, then every table of the results whole (every baseline beside HLSTM, differentials and
# positions, against the observations and the truth), then where the output went.
mpiexec -n 2 --oversubscribe --bind-to none build/hlstm run --config configs/demo.toml -o "$out/result.h5" 2>&1 |
  tee "$out/run.log" | awk '
    /INFO  holdout forecast of the last/ { results = 1 }
    / INFO  wrote / { results = 0; print; next }
    results || /plan:|subregion [0-9]+.*points|^ +total +[0-9.]+ s$/ { print }'
echo
echo "demo: results in $out/result.h5 (hlstm-output: /points, /forecast with intervals, /subregions with the"
echo "      method that won each, /baselines, /grid_search, /partition, /models, /metrics); input scene in"
echo "      $out/result.h5.input.h5; full log in $out/run.log"
