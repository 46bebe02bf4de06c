#!/usr/bin/env bash
# Configures and builds attnlab into build/ (or $ATTNLAB_BUILD_DIR). Extra arguments are ninja
# targets (default: everything). Used by demo.sh and test.sh.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ATTNLAB_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=${ATTNLAB_BUILD_TYPE:-Release} \
  ${ATTNLAB_CMAKE_ARGS:-} >/dev/null
# Two jobs: each LibTorch translation unit needs about 1 GB of memory and a core.
ninja -C "$build" -j "${ATTNLAB_BUILD_JOBS:-$(nproc)}" "$@"
