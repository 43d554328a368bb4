#!/usr/bin/env bash
# One command for a fresh Debian 12 machine: install what is missing, build, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --with-slurm --with-fixtures   # tests need Slurm (real-Slurm test) and h5py (fixtures), not the Python peers
cmake --preset default >/dev/null
cmake --build --preset default -j "$(nproc)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --preset default -j "$(nproc)" "$@"
