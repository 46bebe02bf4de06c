#!/usr/bin/env bash
# Set up, build, and run every test through ctest. Arguments go to ctest, e.g.
#   scripts/test.sh -L fast        only the fast tests
#   scripts/test.sh -L slow        only the end-to-end training tests
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh" --browser
"$root/scripts/build.sh"
build=${ATTNLAB_BUILD_DIR:-$root/build}
cd "$build"
ctest --output-on-failure --timeout 900 -j "${ATTNLAB_TEST_JOBS:-2}" "$@"
