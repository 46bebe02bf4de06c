#!/usr/bin/env bash
# Set up, build, and run every test through ctest. Arguments go to ctest, e.g.
#   scripts/test.sh -L fast        only the fast tests
#   scripts/test.sh -L slow        only the end-to-end training tests
#   scripts/test.sh -L chaos       the kill campaigns; -L browser the report in Chromium
#   scripts/test.sh --sanitize     the tests of the libraries without LibTorch (config,
#                                  comparison, head metrics, the dump reader) built with
#                                  AddressSanitizer and UndefinedBehaviorSanitizer into
#                                  build-sanitize/
#   scripts/test.sh --sanitize-all [ctest args]   everything built that way (the attnlab binary
#                                  included), then the fast tests there (default: -L fast, but
#                                  the address-space-capped memory test); about 30 minutes on 2
#                                  cores, so CI runs --sanitize only
# ctest also runs those (label sanitize) and a short fuzzing round (label fuzz, scripts/fuzz.sh).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The sanitize ctest runs this script again: setup is done by then.
[[ -n "${ATTNLAB_SKIP_SETUP:-}" ]] || "$root/scripts/setup.sh" --tests

# Builds targets (default: all) with the sanitizers into build-sanitize/, and sets their options
# for what runs next: a finding aborts, leaks included.
sanitized_build() {
  ATTNLAB_BUILD_DIR=${ATTNLAB_SANITIZE_BUILD_DIR:-$root/build-sanitize} ATTNLAB_BUILD_TYPE=Debug \
    ATTNLAB_CMAKE_ARGS=-DATTNLAB_SANITIZE=ON "$root/scripts/build.sh" "$@"
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
}

if [[ "${1:-}" == "--sanitize-all" ]]; then
  shift
  sanitized_build
  cd "${ATTNLAB_SANITIZE_BUILD_DIR:-$root/build-sanitize}"
  # Left out: the analysis memory test caps the address space at 64 MB above what the process
  # maps, which AddressSanitizer's own allocator needs more than.
  [[ $# -eq 0 ]] && set -- -L fast -E 'dump larger than its memory limit'
  ctest --output-on-failure --timeout 1800 -j "${ATTNLAB_TEST_JOBS:-2}" "$@"
  exit 0
fi

if [[ "${1:-}" == "--sanitize" ]]; then
  # LibTorch itself is not instrumented, and a sanitized build of everything that links it takes
  # longer than the rest of CI together: the sanitized set is what has no LibTorch in it.
  tests=(test_config_overrides test_config_compose test_config_schema test_compare
    test_head_metrics test_dump_reader)
  build=${ATTNLAB_SANITIZE_BUILD_DIR:-$root/build-sanitize}
  sanitized_build "${tests[@]}"
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
