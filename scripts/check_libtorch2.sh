#!/usr/bin/env bash
# Syntax-checks every C++ translation unit against the headers of a LibTorch 2.x, for developers
# without a GPU machine: the CUDA build cannot link here, but whether it compiles can be known.
#   scripts/check_libtorch2.sh INCLUDE_DIR [STANDARD...]
# INCLUDE_DIR: a LibTorch 2.x `include` folder (the archive's libtorch/include, or pip torch's
# torch/include). STANDARD: c++17 (default), c++20, ... Prints each failing file with its first
# errors and exits 1 if any failed. Files that include no LibTorch header are checked too: they
# must not break when LibTorch's own fmt headers shadow Debian's.
set -euo pipefail
if [[ $# -lt 1 || ! -d "$1/torch/csrc/api/include" ]]; then
  echo "usage: check_libtorch2.sh INCLUDE_DIR [STANDARD...]  (INCLUDE_DIR/torch/csrc/api/include must exist)" >&2
  exit 2
fi
include=$(cd "$1" && pwd)
shift
standards=("${@:-c++17}")
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# As CMake builds them (each folder's CMakeLists.txt), without oneDNN, as
# a LibTorch 2.x build configures by default.
flags=(-fsyntax-only -isystem "$include" -isystem "$include/torch/csrc/api/include" -I "$root"
       $(pkg-config --cflags hdf5) -DFMT_HEADER_ONLY
       -DATTNLAB_CONFIG_DIR="\"$root/configs\"" -DATTNLAB_SOURCE_DIR="\"$root\""
       -DATTNLAB_VERSION='"check"' -DATTNLAB_BINARY='"attnlab"' -DATTNLAB_TEST_DATA_DIR='"data"')
mapfile -t files < <(git ls-files '*.cpp' | grep -v '^tests/fuzz/')
failed=0
for standard in "${standards[@]}"; do
  for file in "${files[@]}"; do
    if ! output=$(g++ -std="$standard" "${flags[@]}" "$file" 2>&1); then
      echo "FAIL ($standard): $file"
      grep -m 3 'error' <<<"$output" || true
      failed=$((failed + 1))
    fi
  done
  echo "$standard: ${#files[@]} files checked"
done
if (( failed > 0 )); then
  echo "$failed failed"
  exit 1
fi
echo "every file compiles against $include"
