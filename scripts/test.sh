#!/usr/bin/env bash
# Set up, build, and run every test through ctest. Arguments go to ctest, e.g.
#   scripts/test.sh -L fast        only the fast tests
#   scripts/test.sh -L slow        only the end-to-end training tests
#   scripts/test.sh -L chaos       the kill campaigns; -L browser the report in Chromium
#   scripts/test.sh --sanitize     the tests of the libraries without LibTorch (config,
#                                  comparison, head metrics, the dump reader) built with
#                                  AddressSanitizer and UndefinedBehaviorSanitizer into
#                                  build-sanitize/
# ctest also runs those (label sanitize) and a short fuzzing round (label fuzz, scripts/fuzz.sh).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The sanitize ctest runs this script again: setup is done by then.
[[ -n "${ATTNLAB_SKIP_SETUP:-}" ]] || "$root/scripts/setup.sh" --tests

if [[ "${1:-}" == "--sanitize" ]]; then
  # LibTorch itself is not instrumented, and a sanitized build of everything that links it takes
  # longer than the rest of CI together: the sanitized set is what has no LibTorch in it.
  tests=(test_config_overrides test_config_compose test_config_schema test_compare
    test_head_metrics test_dump_reader)
  build=${ATTNLAB_SANITIZE_BUILD_DIR:-$root/build-sanitize}
  ATTNLAB_BUILD_DIR=$build ATTNLAB_BUILD_TYPE=Debug ATTNLAB_CMAKE_ARGS=-DATTNLAB_SANITIZE=ON \
    "$root/scripts/build.sh" "${tests[@]}"
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
  for test in "${tests[@]}"; do
    binary=$(find "$build/tests" -name "$test" -type f -executable | head -n 1)
    echo "sanitized: $test"
    "$binary"
  done
  exit 0
fi

"$root/scripts/build.sh"
build=${ATTNLAB_BUILD_DIR:-$root/build}
cd "$build"
ctest --output-on-failure --timeout 900 -j "${ATTNLAB_TEST_JOBS:-2}" "$@"
