#!/usr/bin/env bash
# Benchmark (not a test): data-parallel training of one dominant candidate, `hlstm run` at 1
# and 2 ranks (1 thread each) on a scene whose largest subregion holds ~90 % of the points and
# one candidate per subregion (the paper's fixed L = 60, K = 3, S = 10): without data-parallel
# training no allocation could finish faster than that candidate alone. Prints both wall
# times, checks that the outputs are identical (h5diff, /timing excluded), and last
# `RATIO data_parallel t1/t2 = X`.
#
#   tools/bench/single_subregion.sh [--points N] [--repeat N] [--build DIR] [--workdir DIR] [--args "..."]
#
# The 1- and 2-rank runs alternate --repeat times (default 3) and the medians are compared.
# Read, partition, baselines and write are included in the wall times.
# Takes /tmp/hlstm-build.lock itself for the build and the timed runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/ranks_common.sh"
NAME=data_parallel
WORK=${TMPDIR:-/tmp}/hlstm-bench-single
# Two velocity zones: on seed 2 the stable zone is one ~90 % subregion.
SEED=2
CONFIG="$ROOT/configs/cangzhou.toml"
# One candidate per subregion: there is no grid to balance, so every candidate above 5 % of the
# cost is trained by all ranks together (the second subregion, ~9 %, too).
ARGS="--partition.k_min 2 --partition.k_max 2 --train.epochs 10 --train.threads 1 --train.shard_share 0.05"
parse_options "$@"
run_alternating
