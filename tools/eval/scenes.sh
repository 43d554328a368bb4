# Sourced by tools/eval/atmosphere.sh and backtests.sh (from the repository root): the scenes
# both judge on, the lock every hlstm command takes, and `scene NAME` (DIR/NAME.input.h5,
# simulated once: "demo" as configs/demo.toml simulates, "sN" = seed N of --kind scene --points
# 30000 with the atmosphere, "sNn" the same without it).
# shellcheck shell=bash
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
hl=$PWD/build/hlstm
lock() { flock /tmp/hlstm-cpu.lock timeout 900 "$@"; }
mpi() { lock mpiexec -n 2 --oversubscribe --bind-to none "$hl" "$@"; }
scene() {
  local s=$1 in=${dir:?}/$1.input.h5 seed args
  if [[ ! -f $in ]]; then
    case $s in
      demo) args=(--points 50000 --epochs 89 --seed 1) ;;  # what configs/demo.toml simulates
      s*n) seed=${s#s}; args=(--points 30000 --seed "${seed%n}" --atmosphere-mm 0) ;;
      s*) args=(--points 30000 --seed "${s#s}") ;;
    esac
    mpi simulate --kind scene "${args[@]}" -o "$in" >"$dir/$s.sim.log" 2>&1
  fi
}
