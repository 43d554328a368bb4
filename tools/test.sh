#!/usr/bin/env bash
# One command for a fresh Debian 12 machine: install what is missing, build, run every test
# (and the model and pipeline tests a second time on oneDNN's AVX2 kernels).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --with-slurm --with-fixtures --with-plot --with-browser --with-format --with-spatial   # Slurm (real-Slurm test), h5py (fixtures), matplotlib (plot/report), chromium (report in a browser), R spdep (spatial reference); not the Python peers
tools/format.sh --check   # every C++ file as .clang-format formats it
cmake --preset default >/dev/null
cmake --build --preset default -j "$(nproc)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --preset default -j "$(nproc)" "$@"
# The model and pipeline tests once more as a CPU without AVX-512 runs them: oneDNN's AVX2
# kernels, and the AVX2/portable paths of hlstm's own inference kernel and baselines
# (src/model/lstm_infer.cpp, src/model/ar_solve.cpp, src/model/ar_lanes.cpp,
# src/partition/davies_bouldin.cpp); on such a CPU this repeats the same code.
if [[ $# -eq 0 ]]; then
    echo "== model and pipeline tests again with ONEDNN_MAX_CPU_ISA=AVX2, HLSTM_INFERENCE_ISA=portable, HLSTM_BASELINES_ISA=portable, HLSTM_PARTITION_ISA=portable =="
    ONEDNN_MAX_CPU_ISA=AVX2 HLSTM_INFERENCE_ISA=portable HLSTM_BASELINES_ISA=portable HLSTM_PARTITION_ISA=portable ctest --preset default -j "$(nproc)" \
        -R '^(test_model_.*|test_plan|test_metrics|test_run|test_resume)$'
fi
