#!/usr/bin/env bash
# Installs what attnlab needs from Debian's packages, only what is missing (safe to run again),
# and the report's JavaScript libraries from npm (pinned by analysis/report/web/package-lock.json).
# Runs apt-get as root (directly, or through sudo when available).
#   scripts/setup.sh             what building, training and reports need
#   scripts/setup.sh --tests     also what only the tests use: Debian's Chromium (the report's
#                                browser test), clang and its fuzzer runtime (scripts/fuzz.sh)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

packages=(
  g++ cmake ninja-build ccache git pkg-config
  libtorch-dev libopenblas0-openmp        # LibTorch links the system BLAS: use OpenBLAS, not the reference one
  libdnnl-dev                             # oneDNN's sgemm for fused attention and dense layers
  libhdf5-dev hdf5-tools                  # attention dumps (h5dump to inspect them)
  libtomlplusplus-dev libfmt-dev libcli11-dev nlohmann-json3-dev catch2
  python3-torch python3-h5py python3-numpy  # reference scripts and notebook readers
  slurmctld slurmd slurm-client munge     # sweeps on Slurm: scripts/slurm-local.sh, the slurm tests
)
# attnlab report builds its page with Node.js; a machine that already has node and npm keeps them.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
[[ "${1:-}" == "--tests" ]] && packages+=(chromium clang libclang-rt-14-dev)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#packages[@]} packages present"
else
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
fi

# playwright-core (the browser test) needs Node.js 20 and Vega-Lite 6 asks for 22; Debian
# bookworm's own nodejs is 18. Say so rather than fail later with a stack trace.
node_major=$(node --version | sed -E 's/^v([0-9]+).*/\1/')
if (( node_major < 20 )); then
  echo "setup: warning: Node.js $(node --version) is older than 20: attnlab report and its" \
       "browser test need a newer Node.js than Debian bookworm ships" >&2
fi

# The report's npm packages, exactly as locked; installed again only when the lockfile changes.
web="$root/analysis/report/web"
stamp="$web/node_modules/.attnlab-lock-sha256"
lock_hash=$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$lock_hash" ]]; then
  echo "setup: npm ci in analysis/report/web"
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_hash" >"$stamp"
else
  echo "setup: report libraries present (analysis/report/web/node_modules)"
fi
