#!/usr/bin/env bash
# Installs the Debian packages hlstm needs (idempotent; silent when nothing is missing).
# Usage: tools/setup.sh [--with-slurm] [--with-fixtures] [--with-python] [--with-format] [--with-plot] [--with-browser] [--with-spatial]
set -euo pipefail

packages=(build-essential cmake pkg-config libopenmpi-dev openmpi-bin libeigen3-dev libdnnl-dev
          libhdf5-openmpi-dev hdf5-tools libboost-serialization-dev libgtest-dev libcgal-dev
          ocl-icd-opencl-dev opencl-c-headers libtomlplusplus-dev libcli11-dev libproj-dev libgdal-dev gdal-bin)
for arg in "$@"; do
  case "$arg" in
    --with-slurm) packages+=(slurmctld slurmd slurm-client munge) ;;
    --with-fixtures) packages+=(python3-h5py python3-numpy proj-bin) ;;  # tests write files the way h5py users do
    --with-format) packages+=(clang-format) ;;  # tools/format.sh and the test command's format check
    --with-plot) packages+=(python3-matplotlib python3-h5py python3-numpy) ;;  # hlstm plot / hlstm report
    --with-browser)  # test_report: the report in Debian's headless Chromium, driven by puppeteer-core from npm
      packages+=(chromium)
      command -v npm >/dev/null || packages+=(nodejs npm) ;;  # a node that ships its own npm is kept
    --with-spatial) packages+=(r-base-core r-cran-spdep) ;;  # test_spatial: R's spdep is the reference of Moran's I and Gi*
    --with-python) packages+=(python3-torch python3-sklearn python3-scipy python3-h5py python3-matplotlib python3-pandas
                              libopenblas0-pthread) ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 1 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "setup: installing ${#missing[@]} missing Debian package(s): ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
  echo "setup: cannot install (not root and no sudo). Ask an administrator to run:" >&2
  echo "  apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/hlstm-setup.log 2>&1; then
  "${sudo[@]}" apt-get update -q >>/tmp/hlstm-setup.log 2>&1 || true
  if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/hlstm-setup.log 2>&1; then
    echo "setup: apt-get could not install: ${missing[*]} (log: /tmp/hlstm-setup.log)" >&2
    tail -5 /tmp/hlstm-setup.log >&2
    exit 1
  fi
fi
echo "setup: done"
