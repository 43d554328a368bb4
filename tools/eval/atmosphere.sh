#!/usr/bin/env bash
# Issue 23's evaluation (not a benchmark): HLSTM against every baseline, against the truth, on
# the demo scene and seeds 2-4 of `hlstm simulate --kind scene --points 30000`, atmosphere on
# and off (--atmosphere-mm 0): a Y = 1 run (h = 1 differential) and a 12-epoch holdout run
# (positions at h = 1, 3, 6, 12), 2 ranks, configs/demo.toml, then one table.
#   tools/eval/atmosphere.sh [DIR] [-- extra run overrides]
# Scenes are simulated once into DIR (default eval-atmosphere/) and reused; a run is redone
# only when its output is missing (delete DIR/*.y1.h5 / *.y12.h5 to rerun). Every hlstm
# command goes through flock /tmp/hlstm-cpu.lock (the machine is shared). HLSTM_EVAL_SCENES
# limits the scenes (e.g. "s4 s4n").
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-eval-atmosphere}
shift || true
[[ "${1:-}" == "--" ]] && shift
extra=("$@")
mkdir -p "$dir"
# shellcheck source=tools/eval/scenes.sh
source tools/eval/scenes.sh
scenes=${HLSTM_EVAL_SCENES:-"demo s2 s3 s4 s2n s3n s4n"}
for s in $scenes; do
  scene "$s"
  in=$dir/$s.input.h5
  [[ -f $dir/$s.y1.h5 ]] || mpi run --config configs/demo.toml --input "$in" -o "$dir/$s.y1.h5" "${extra[@]}" \
    >"$dir/$s.y1.log" 2>&1
  [[ -f $dir/$s.y12.h5 ]] || mpi run --config configs/demo.toml --input "$in" -o "$dir/$s.y12.h5" \
    --run.holdout 12 --model.horizon 12 "${extra[@]}" >"$dir/$s.y12.log" 2>&1
done
# shellcheck disable=SC2086
/usr/bin/python3 tools/eval/atmosphere_table.py "$dir" $scenes
