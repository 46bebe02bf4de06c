#!/usr/bin/env bash
# Installs what attnlab needs from Debian's packages, only what is missing (safe to run again).
# Runs apt-get as root (directly, or through sudo when available).
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache git pkg-config
  libtorch-dev libopenblas0-openmp        # LibTorch links the system BLAS: use OpenBLAS, not the reference one
  libdnnl-dev                             # oneDNN's sgemm for fused attention and dense layers
  libhdf5-dev hdf5-tools                  # attention dumps (h5dump to inspect them)
  libtomlplusplus-dev libfmt-dev libcli11-dev nlohmann-json3-dev catch2
  python3-torch python3-h5py python3-numpy  # reference scripts and notebook readers
  slurmctld slurmd slurm-client munge     # sweeps on Slurm: scripts/slurm-local.sh, the slurm tests
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null; then
  as_root=(sudo)
else
  echo "setup: missing packages and not root (no sudo): ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
