#!/usr/bin/env bash
# tools/fuzz.sh: build and run the libFuzzer harnesses of tests/fuzz (ASan + UBSan, clang++).
#
# Usage: tools/fuzz.sh [--seconds N] [--jobs J] [--build DIR] [--max-findings K] [harness...]
#
#   harness         fuzz_config     TOML configuration text -> Config::loadTomlText, toToml, typed
#                                   getters, model::trainConfigFrom / modelConfigFrom
#                   fuzz_overrides  "key=value" (split at the first '=' or NUL) -> Config::set
#                   fuzz_input      bytes of an input .h5 -> readNative as `hlstm info` (1 MPI rank)
#                   (short names config, overrides, input work too; default: all three)
#   --seconds N     fuzzing time per harness (default 600)
#   --jobs J        fuzzing processes per harness, sharing its corpus (default 1; 2 cores here)
#   --build DIR     build directory (default build-fuzz, relative to the repository)
#   --max-findings K  stop a harness after K findings (default 5); after a finding the harness is
#                   restarted on its corpus until the time is up, so one run can report several
#
# What it does:
#   1. configures and builds DIR with -DHLSTM_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++
#      -DHLSTM_MODULES="core;io;data;config" -DHLSTM_BUILD_TESTS=OFF, every cmake call under
#      `flock /tmp/hlstm-build.lock` (the machine's shared build lock);
#   2. makes seed corpora under DIR/seeds/<harness> once (not in git): the schema's defaults, one
#      override per key and configs/*.toml for the configuration harnesses, and three small
#      archives from `build/hlstm simulate --points 20 --epochs 6` for fuzz_input (needs the normal
#      build's binary, or HLSTM_BIN=/path/to/hlstm);
#   3. runs each harness for N seconds: -max_total_time=N -timeout=10 -rss_limit_mb=2048
#      -print_final_stats=1, corpus DIR/corpus/<harness> (kept between runs), artifacts (crash-,
#      leak-, timeout-, oom-) in DIR/findings/<harness>/, wrong-result inputs that did not crash
#      ("soft" findings, e.g. a printed configuration that does not read back) in
#      DIR/findings/<harness>/soft/, logs in DIR/logs/;
#   4. prints per harness the executions (sum of libFuzzer's stat::number_of_executed_units),
#      the corpus size and the number of findings of this run.
#
# Exit status: 0 no finding, 1 at least one harness produced a finding (crash, sanitizer report,
# leak, timeout, OOM, unexpected exception type), 2 usage or build error. Soft findings are
# listed but do not change the exit status (HLSTM_FUZZ_STRICT=1 makes them crashes).
#
# Reproduce a finding: DIR/fuzz/<harness> DIR/findings/<harness>/crash-... (add
# UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 as the script does). Expected outcomes and
# the sanitizer settings built into the harnesses: tests/fuzz/fuzz_common.hpp, fuzz_input.cpp.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LOCK=/tmp/hlstm-build.lock
SECONDS_PER=600
JOBS=1
BUILD="build-fuzz"
MAX_FINDINGS=5
ALL=(fuzz_config fuzz_overrides fuzz_input)
HARNESSES=()

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "fuzz.sh: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --seconds) [[ $# -ge 2 && "$2" =~ ^[0-9]+$ && "$2" -gt 0 ]] || die "--seconds needs a positive integer"; SECONDS_PER="$2"; shift 2 ;;
    --jobs) [[ $# -ge 2 && "$2" =~ ^[0-9]+$ && "$2" -gt 0 ]] || die "--jobs needs a positive integer"; JOBS="$2"; shift 2 ;;
    --build) [[ $# -ge 2 ]] || die "--build needs a directory"; BUILD="$2"; shift 2 ;;
    --max-findings) [[ $# -ge 2 && "$2" =~ ^[0-9]+$ && "$2" -gt 0 ]] || die "--max-findings needs a positive integer"; MAX_FINDINGS="$2"; shift 2 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *)
      case "$1" in
        config|fuzz_config) HARNESSES+=(fuzz_config) ;;
        overrides|fuzz_overrides) HARNESSES+=(fuzz_overrides) ;;
        input|fuzz_input) HARNESSES+=(fuzz_input) ;;
        *) die "unknown harness '$1' (fuzz_config, fuzz_overrides, fuzz_input)" ;;
      esac
      shift ;;
  esac
done
[[ ${#HARNESSES[@]} -gt 0 ]] || HARNESSES=("${ALL[@]}")
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
command -v clang++ >/dev/null || die "clang++ not found (Debian: apt-get install clang)"

# ---- 1. configure and build (always under the shared build lock) ----
echo "== building the fuzz harnesses in $BUILD"
mkdir -p "$BUILD"
flock "$LOCK" cmake -S "$ROOT" -B "$BUILD" -DHLSTM_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
  -DCMAKE_BUILD_TYPE= -DHLSTM_BUILD_TESTS=OFF "-DHLSTM_MODULES=core;io;data;config" \
  -DCGAL_DO_NOT_WARN_ABOUT_CMAKE_BUILD_TYPE=TRUE >"$BUILD/configure.log" 2>&1 \
  || { tail -30 "$BUILD/configure.log" >&2; die "configure failed (log: $BUILD/configure.log)"; }
flock "$LOCK" cmake --build "$BUILD" -j2 --target "${HARNESSES[@]}" >"$BUILD/build.log" 2>&1 \
  || { grep -E "error|Error" "$BUILD/build.log" | head -30 >&2; die "build failed (log: $BUILD/build.log)"; }

# ---- runtime environment of every harness ----
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_NUM_THREADS=1
export HLSTM_FUZZ_TMPDIR="$BUILD/tmp"
mkdir -p "$HLSTM_FUZZ_TMPDIR" "$BUILD/logs"

# ---- 2. seed corpora (made once) ----
seed() {
  local h="$1" dir="$BUILD/seeds/$1"
  [[ -d "$dir" && -n "$(ls -A "$dir" 2>/dev/null)" ]] && return 0
  rm -rf "$dir.partial"
  mkdir -p "$dir.partial"
  case "$h" in
    fuzz_config|fuzz_overrides)
      HLSTM_FUZZ_SEEDS_OUT="$dir.partial" HLSTM_FUZZ_DICT_OUT="$BUILD/seeds/$h.dict" "$BUILD/fuzz/$h" \
        >/dev/null 2>&1 || die "$h could not write its seeds"
      if [[ "$h" == fuzz_config ]]; then cp "$ROOT"/configs/*.toml "$dir.partial/"; fi ;;
    fuzz_input)
      local bin="${HLSTM_BIN:-$ROOT/build/hlstm}"
      [[ -x "$bin" ]] || die "no $bin for the seed archives: build it (cmake --preset default && cmake --build --preset default) or set HLSTM_BIN"
      local name args
      for name in scene-1 patterns-2 scene-3-drop1; do
        case "$name" in
          scene-1) args=(--kind scene --seed 1) ;;
          patterns-2) args=(--kind patterns --seed 2) ;;
          scene-3-drop1) args=(--kind scene --seed 3 --drop 1) ;;
        esac
        flock "$LOCK" "$bin" simulate "${args[@]}" --points 20 --epochs 6 -o "$dir.partial/$name.h5" \
          >/dev/null 2>&1 || die "$bin simulate ${args[*]} failed"
      done ;;
  esac
  mv "$dir.partial" "$dir"
}

# ---- 3. run ----
# One fuzzing process: restarts the harness after each finding until the time is up or the
# harness has MAX_FINDINGS findings; appends its logs to $3.
fuzz_loop() {
  local h="$1" job="$2" log="$3" findings="$BUILD/findings/$1" deadline=$(( $(date +%s) + SECONDS_PER ))
  local extra=()
  [[ -f "$BUILD/seeds/$h.dict" ]] && extra+=("-dict=$BUILD/seeds/$h.dict")
  # HDF5 1.10 mallocs sizes read from the file (4 GB object-header buffers for a 19 KB input,
  # H5C_protect) and only touches what it reads; in production that is harmless. libFuzzer's
  # malloc limit (default: the RSS limit) would stop every fuzz_input run on it, so it is lifted
  # there: -rss_limit_mb=2048 still catches memory that is really used (hlstm's vectors are
  # filled when made), and ASan still refuses single allocations above 1 TiB.
  [[ "$h" == fuzz_input ]] && extra+=("-malloc_limit_mb=1048576")
  while :; do
    local left=$(( deadline - $(date +%s) ))
    (( left >= 2 )) || break
    local before; before=$(count_findings "$findings")
    (( before - ${START_FINDINGS[$h]} < MAX_FINDINGS )) || break
    echo "=== fuzz.sh run: job $job, $left s left" >>"$log"
    HLSTM_FUZZ_SOFT_DIR="$findings/soft" "$BUILD/fuzz/$h" -max_total_time="$left" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$findings/" "${extra[@]}" \
      "$BUILD/corpus/$h" "$BUILD/seeds/$h" >>"$log" 2>&1 || true
    local after; after=$(count_findings "$findings")
    (( after > before )) || break  # ended without a finding: the time is up
  done
}

count_findings() {
  find "$1" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) \
    2>/dev/null | wc -l
}

# Executions in one log: each libFuzzer run's final stat::number_of_executed_units, or for a run
# that printed none its last "#N" status line.
executions() {
  awk '
    /^=== fuzz.sh run/ { total += (stat != "" ? stat : last); stat = ""; last = 0; next }
    /^stat::number_of_executed_units:/ { stat = $2; next }
    /^#[0-9]+/ { n = substr($1, 2) + 0; if (n > last) last = n }
    END { total += (stat != "" ? stat : last); print total + 0 }' "$1"
}

declare -A START_FINDINGS SUMMARY
STAMP="$(date +%Y%m%d-%H%M%S)"
status=0
for h in "${HARNESSES[@]}"; do
  seed "$h"
  mkdir -p "$BUILD/corpus/$h" "$BUILD/findings/$h/soft"
  START_FINDINGS[$h]=$(count_findings "$BUILD/findings/$h")
  soft_before=$(find "$BUILD/findings/$h/soft" -type f | wc -l)
  touch "$BUILD/logs/.start-$h"
  rm -f "$HLSTM_FUZZ_TMPDIR"/hlstm-fuzz-input-*.h5  # left by earlier runs that crashed
  echo "== $h: ${SECONDS_PER}s x $JOBS job(s), corpus $BUILD/corpus/$h, logs $BUILD/logs/$h-$STAMP-*.log"
  pids=()
  for (( j = 1; j <= JOBS; j++ )); do
    fuzz_loop "$h" "$j" "$BUILD/logs/$h-$STAMP-$j.log" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || true; done

  execs=0
  for (( j = 1; j <= JOBS; j++ )); do execs=$(( execs + $(executions "$BUILD/logs/$h-$STAMP-$j.log") )); done
  corpus_files=$(find "$BUILD/corpus/$h" -type f | wc -l)
  corpus_kb=$(du -sk "$BUILD/corpus/$h" | cut -f1)
  new=$(( $(count_findings "$BUILD/findings/$h") - ${START_FINDINGS[$h]} ))
  soft=$(( $(find "$BUILD/findings/$h/soft" -type f | wc -l) - soft_before ))
  (( new == 0 )) || status=1
  SUMMARY[$h]="$(printf '%-15s executions %10s   corpus %5s files (%s KiB)   findings %s   soft %s' \
    "$h" "$execs" "$corpus_files" "$corpus_kb" "$new" "$soft")"
  if (( new > 0 )); then
    SUMMARY[$h]+=$'\n'"$(find "$BUILD/findings/$h" -maxdepth 1 -type f -newer "$BUILD/logs/.start-$h" \
      \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) -printf '                  %p\n')"
  fi
  if (( soft > 0 )); then
    SUMMARY[$h]+=$'\n'"$(find "$BUILD/findings/$h/soft" -type f -newer "$BUILD/logs/.start-$h" -printf '                  %p (soft)\n')"
  fi
  echo "${SUMMARY[$h]}"
done

# ---- 4. summary ----
echo
echo "== summary (${SECONDS_PER}s per harness, $JOBS job(s); findings: $BUILD/findings/<harness>/)"
for h in "${HARNESSES[@]}"; do echo "${SUMMARY[$h]}"; done
if (( status != 0 )); then
  echo "fuzz.sh: findings above (reproduce: $BUILD/fuzz/<harness> <file>; stack traces in $BUILD/logs/)"
fi
exit "$status"
