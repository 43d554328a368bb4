# Shared by the benchmarks under tools/bench; sourced, not run.
# build_hlstm: configures and builds the `hlstm` target in $BUILD (RelWithDebInfo) under $LOCK
# (default /tmp/hlstm-build.lock), creates $WORK, sets the MPI environment of a root VM and one
# OpenMP thread per rank, and sets HLSTM to the binary.
build_hlstm() {
  LOCK=${LOCK:-/tmp/hlstm-build.lock}
  mkdir -p "$WORK"
  flock "$LOCK" cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  flock "$LOCK" cmake --build "$BUILD" -j 2 --target hlstm >/dev/null
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
  HLSTM=$BUILD/hlstm
}
