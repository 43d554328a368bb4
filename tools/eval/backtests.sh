#!/usr/bin/env bash
# Issue 23's evaluation over several origins (not a benchmark): `hlstm backtest --origins 6
# --origin-stride 4` (12-epoch horizon, configs/demo.toml, 2 ranks) on the demo scene and seeds
# of `hlstm simulate --kind scene --points 30000` (atmosphere on; "sNn" = seed N with
# --atmosphere-mm 0), then one table: per scene the mean over the origins of HLSTM's position
# MAE against the truth at h = 1, 3, 6, 12 beside the best baseline of each cell, and over the
# atmosphere scenes every method's mean. One holdout is dominated by its epochs' shared
# atmosphere; six origins per scene judge the methods, not the luck of one range of epochs.
#   tools/eval/backtests.sh [DIR] [-- extra backtest overrides]
# Scenes are simulated once into DIR (default eval-backtests/, shared with atmosphere.sh's
# names) and reused; a backtest is redone only when its output is missing. Every hlstm command
# goes through flock /tmp/hlstm-cpu.lock. HLSTM_EVAL_SCENES picks the scenes (default: demo,
# seeds 2-17, and seeds 2-4 without atmosphere; about 25 s of compute each).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-eval-backtests}
shift || true
[[ "${1:-}" == "--" ]] && shift
extra=("$@")
mkdir -p "$dir"
# shellcheck source=tools/eval/scenes.sh
source tools/eval/scenes.sh
scenes=${HLSTM_EVAL_SCENES:-"demo $(echo s{2..17}) s2n s3n s4n"}
for s in $scenes; do
  scene "$s"
  in=$dir/$s.input.h5
  [[ -f $dir/$s.bt.h5 ]] || mpi backtest --config configs/demo.toml --input "$in" --origins 6 --origin-stride 4 \
    --run.holdout 12 --model.horizon 12 -o "$dir/$s.bt.h5" "${extra[@]}" >"$dir/$s.bt.log" 2>&1
done
# shellcheck disable=SC2086
/usr/bin/python3 tools/eval/backtest_table.py "$dir" $scenes
