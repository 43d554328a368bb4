#!/usr/bin/env bash
# Benchmark (not a test): reading the archives users have, hlstm against the Python way in the
# same invocation; one format per invocation:
#  mintpy: a MintPy timeseries.h5 cube (default 200 dates x 1500 x 1300, 1.56 GB, 15 % no-data
#     pixels), read by `hlstm info` at R ranks (each rank reads its block of grid rows, a slab at
#     a time) and by h5py + NumPy (the cube, reshaped to pixels x dates, valid pixels, mm).
#  egms: an EGMS CSV (default 1,000,000 points x 100 dates), read by `hlstm info` at R ranks (byte
#     ranges) and by pandas.read_csv (the date columns as a points x dates float32 array).
# Prints wall time and peak memory per hlstm rank (/usr/bin/time) and of the peer, the peak per
# rank as a fraction of the input, and last `RATIO read_mintpy python/hlstm = X` or
# `RATIO read_egms pandas/hlstm = X` (wall time).
#
#   tools/bench/read_formats.sh mintpy|egms [--ranks 2] [--dates 200] [--rows 1500] [--cols 1300]
#                               [--points 1000000] [--csv-dates 100] [--workdir DIR] [--build DIR]
# The inputs are generated once into the work directory (cached). The script takes
# /tmp/hlstm-build.lock itself for the build and the timed runs: do not wrap it in flock.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RANKS=2 DATES=200 ROWS=1500 COLS=1300 POINTS=1000000 CSV_DATES=100
WORK=${TMPDIR:-/tmp}/hlstm-bench-read
BUILD=${HLSTM_BUILD:-$ROOT/build-bench}
LOCK=/tmp/hlstm-build.lock
PY=/usr/bin/python3
FORMAT=${1:-}
case $FORMAT in mintpy|egms) shift ;; -h|--help) ;; *) echo "usage: $0 mintpy|egms [options] (--help)" >&2; exit 1 ;; esac
while [[ $# -gt 0 ]]; do
  case $1 in
    --ranks) RANKS=$2; shift 2 ;;
    --dates) DATES=$2; shift 2 ;;
    --rows) ROWS=$2; shift 2 ;;
    --cols) COLS=$2; shift 2 ;;
    --points) POINTS=$2; shift 2 ;;
    --csv-dates) CSV_DATES=$2; shift 2 ;;
    --workdir) WORK=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 1 ;;
  esac
done
mkdir -p "$WORK"
"$ROOT/tools/setup.sh" --with-python
flock "$LOCK" cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DHLSTM_BUILD_TESTS=OFF >/dev/null
flock "$LOCK" cmake --build "$BUILD" -j2 --target hlstm >/dev/null
HLSTM=$BUILD/hlstm
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

CUBE=$WORK/timeseries_${DATES}x${ROWS}x${COLS}.h5
CSV=$WORK/egms_${POINTS}x${CSV_DATES}.csv
[[ $FORMAT != mintpy || -f $CUBE ]] || { echo "writing $CUBE"; "$PY" "$ROOT/tools/bench/read_formats.py" make-mintpy "$CUBE" --dates "$DATES" --rows "$ROWS" --cols "$COLS"; }
[[ $FORMAT != egms || -f $CSV ]] || { echo "writing $CSV"; "$PY" "$ROOT/tools/bench/read_formats.py" make-egms "$CSV" --points "$POINTS" --dates "$CSV_DATES"; }

# hlstm info at RANKS ranks: wall time of the whole command, peak RSS of every rank.
hlstm_read() {  # file label
  local file=$1 label=$2 log=$WORK/$2.hlstm.log
  cat "$file" >/dev/null  # both sides read from the page cache
  rm -f "$WORK"/peak.*
  # The wall time is taken inside the lock (waiting for it does not count); each rank's peak
  # RSS goes to its own file.
  flock "$LOCK" /usr/bin/time -f "wall %e" -o "$WORK/wall" mpiexec -n "$RANKS" --bind-to none \
    sh -c '/usr/bin/time -f "%M" -o "$0/peak.$OMPI_COMM_WORLD_RANK" "$@"' "$WORK" "$HLSTM" info "$file" >"$log" 2>&1
  local wall peaks maxpeak size
  wall=$(awk '/^wall/ {print $2}' "$WORK/wall")
  peaks=$(for f in "$WORK"/peak.*; do awk '{printf "%.0f MiB ", $1/1024}' "$f"; done)
  maxpeak=$(cat "$WORK"/peak.* | awk 'BEGIN{m=0}{if($1>m)m=$1}END{print m*1024}')
  size=$(stat -c %s "$file")
  printf '%s hlstm (%d ranks): %.2f s, points %s, peak per rank %s(largest %.2f x the file of %.0f MiB)\n' \
    "$label" "$RANKS" "$wall" "$(grep -m1 '^points' "$log" | awk '{print $2}')" "$peaks" \
    "$(echo "$maxpeak / $size" | bc -l)" "$(echo "$size / 1048576" | bc -l)"
  HLSTM_WALL=$wall
}
peer_read() {  # mode file label
  cat "$2" >/dev/null
  local out
  out=$(flock "$LOCK" "$PY" "$ROOT/tools/bench/read_formats.py" "$1" "$2")
  echo "$3 peer: $out"
  PEER_WALL=$(echo "$out" | awk '{print $2}')
}

if [[ $FORMAT == mintpy ]]; then
  hlstm_read "$CUBE" mintpy
  peer_read peer-mintpy "$CUBE" mintpy
  printf 'RATIO read_mintpy python/hlstm = %.3f\n' "$(echo "$PEER_WALL / $HLSTM_WALL" | bc -l)"
else
  hlstm_read "$CSV" egms
  peer_read peer-egms "$CSV" egms
  printf 'RATIO read_egms pandas/hlstm = %.3f\n' "$(echo "$PEER_WALL / $HLSTM_WALL" | bc -l)"
fi
