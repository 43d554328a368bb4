#!/usr/bin/env bash
# Benchmark (not a test): strong scaling of `hlstm run` from 1 to 2 ranks (1 thread each) on
# the same scene and grid search, in one invocation. Prints both wall times, checks that the
# two outputs are identical (h5diff, /timing excluded), and last `RATIO scaling t1/t2 = X`.
#
#   tools/bench/scaling.sh [--points N] [--repeat N] [--build DIR] [--workdir DIR] [--args "..."]
#
# The 1- and 2-rank runs alternate --repeat times (default 3) and the medians are compared.
# One window per point (model.sampling = latest; the demo's stride-6 windows would make each
# run ~6x longer). The grid has enough candidates (L x K x S per subregion) for the
# largest-first plan to balance two ranks; read, partition and write are included.
# Takes /tmp/hlstm-build.lock itself for the build and the timed runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/ranks_common.sh"
NAME=scaling
WORK=${TMPDIR:-/tmp}/hlstm-bench-scaling
SEED=11
CONFIG="$ROOT/configs/demo.toml"
ARGS="--partition.min_points 1000 --grid.L 20,40,60 --grid.K 1,2 --grid.S 10,20 --train.epochs 10 --train.threads 1 --model.sampling latest"
parse_options "$@"
run_alternating
