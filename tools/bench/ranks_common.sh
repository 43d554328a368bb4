# Shared by the 1-vs-2-rank benchmarks (scaling.sh, single_subregion.sh); sourced, not run.
# The caller sets NAME (RATIO name), WORK, SEED, CONFIG, ARGS, and may set POINTS, REPEAT and
# BUILD before calling parse_options "$@" and run_alternating. Builds and times under
# /tmp/hlstm-build.lock; the 1- and 2-rank runs alternate REPEAT times and the medians are
# compared (these VMs' speed drifts by 10-15 % between runs); outputs must be identical.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
POINTS=${POINTS:-40000}
REPEAT=${REPEAT:-3}
BUILD=${HLSTM_BUILD:-$ROOT/build-bench}
LOCK=/tmp/hlstm-build.lock
source "$ROOT/tools/bench/bench_build.sh"

parse_options() {
  while [[ $# -gt 0 ]]; do
    case $1 in
      --points) POINTS=$2; shift 2 ;;
      --repeat) REPEAT=$2; shift 2 ;;
      --build) BUILD=$2; shift 2 ;;
      --workdir) WORK=$2; shift 2 ;;
      --args) ARGS="$ARGS $2"; shift 2 ;;
      -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
      *) echo "unknown option $1" >&2; exit 1 ;;
    esac
  done
}

median() { tr ' ' '\n' | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

run_alternating() {
  build_hlstm
  local hlstm="$HLSTM"
  # Hold the machine for the whole measurement: both timed runs must see the same idle cores.
  exec 9>"$LOCK"
  flock 9
  "$hlstm" simulate --kind scene --points "$POINTS" --epochs 89 --seed "$SEED" -o "$WORK/scene.h5" 2>/dev/null
  declare -A times
  local rep ranks out start end t
  for ((rep = 1; rep <= REPEAT; rep++)); do
    for ranks in 1 2; do
      out="$WORK/out$ranks.h5"
      start=$(date +%s.%N)
      # shellcheck disable=SC2086
      mpiexec -n $ranks --oversubscribe --bind-to none "$hlstm" run --config "$CONFIG" \
        --input "$WORK/scene.h5" -o "$out" $ARGS >"$WORK/run$ranks.log" 2>&1
      end=$(date +%s.%N)
      t=$(awk "BEGIN{print $end - $start}")
      times[$ranks]="${times[$ranks]:-} $t"
      printf "run %d, ranks %d: wall %.2f s (%s candidates, train phase %s s)\n" $rep $ranks "$t" \
        "$(grep -cE '^ .*candidate [0-9]+(/[0-9]+)? on this rank' "$WORK/run$ranks.log")" \
        "$(awk '$1 == "train" && $3 == "s" {print $2}' "$WORK/run$ranks.log")"
    done
  done
  grep -E "subregion [0-9]+:|data-parallel on ranks" "$WORK/run2.log" | sed 's/^/    /'
  sed -n "/phase timings/,/total/p" "$WORK/run2.log" | sed 's/^/    /'
  declare -A median_of
  for ranks in 1 2; do
    median_of[$ranks]=$(echo ${times[$ranks]} | median)
    printf "ranks %d: median wall %.2f s of%s\n" $ranks "${median_of[$ranks]}" "${times[$ranks]}"
  done
  if h5diff --exclude-path /timing "$WORK/out1.h5" "$WORK/out2.h5" >/dev/null; then
    echo "outputs at 1 and 2 ranks: identical (h5diff, /timing excluded)"
  else
    echo "outputs at 1 and 2 ranks: DIFFER" >&2
    exit 1
  fi
  printf "RATIO %s t1/t2 = %.3f\n" "$NAME" "$(awk "BEGIN{print ${median_of[1]} / ${median_of[2]}}")"
}
