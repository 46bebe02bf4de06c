#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang into build-fuzz/ (or
# $ATTNLAB_FUZZ_BUILD_DIR) and runs each for SECONDS (default 60), one after another with one
# job, on a copy of its seed corpus (the committed corpus stays as it is). Prints per target the
# executions, exec/s, coverage and crashes; exits 1 on any crash, leak, timeout or out-of-memory,
# naming each input that caused one, what went wrong and where.
#   scripts/fuzz.sh                   every target (override sweep config dump dump_file), 60 s each
#   scripts/fuzz.sh 300 dump          the dump reader for 5 minutes
#   scripts/fuzz.sh 0 override        build and replay the seeds only (a quick regression check)
# A run stops at its first finding; ATTNLAB_FUZZ_KEEP_GOING=1 fuzzes on for the whole time in a
# child process that is restarted after each finding, collecting them all (useful for
# `dump_file`, the in-process reader, where libhdf5's own bugs on corrupt files come up quickly).
# Reproduce a finding with build-fuzz/tests/fuzz/<target>_fuzz <input>; once fixed, it goes into
# tests/fuzz/corpus/<target>/ so that every later run replays it. ATTNLAB_BUILD_JOBS limits the build's jobs, as in build.sh.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
all_targets=(override sweep config dump dump_file)

seconds=60
if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=("${all_targets[@]}")
for target in "${targets[@]}"; do
  case " ${all_targets[*]} " in
    *" $target "*) ;;
    *) echo "fuzz.sh: unknown target '$target' (targets: ${all_targets[*]})" >&2; exit 2 ;;
  esac
done

# Longest input per target: a few KB for command-line text and configs; dumps need room for the
# seed files (up to about 55 KB).
max_len() {
  case "$1" in
    override|sweep) echo 4096 ;;
    config) echo 16384 ;;
    dump|dump_file) echo 65536 ;;
  esac
}

# The two dump targets (through the reader's child process, and in process) share seeds and
# dictionary.
inputs_of() {
  case "$1" in
    dump_file) echo dump ;;
    *) echo "$1" ;;
  esac
}

for tool in clang clang++; do
  if ! command -v "$tool" >/dev/null; then
    echo "fuzz.sh: $tool not found (apt-get install clang libclang-rt-14-dev)" >&2
    exit 2
  fi
done
build=${ATTNLAB_FUZZ_BUILD_DIR:-$root/build-fuzz}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATTNLAB_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
ninja -C "$build" -j "${ATTNLAB_BUILD_JOBS:-$(nproc)}" "${targets[@]/%/_fuzz}"

# What went wrong with one finding and the innermost frame in attnlab or libhdf5, from a replay:
#   "heap-buffer-overflow; in H5O__msg_iterate_real (libhdf5...)".
describe() {
  local binary=$1 input=$2 replay what where
  local errors='ERROR: [A-Za-z]+: ([a-z]+ memory leaks|[A-Za-z-]+)|runtime error: .*'
  errors+='|terminate called.*|ALARM: .*|[a-z]+_fuzz: [^R].*'
  replay=$(timeout 60 "$binary" -timeout=10 "$input" 2>&1 || true)
  what=$(grep -m 1 -oE "$errors" <<<"$replay" | sed 's/^ERROR: //' || true)
  where=$(grep -m 1 -E '^ +#[0-9]+ .* in (attnlab::|H5|toml::)' <<<"$replay" |
    sed -E 's/^ +#[0-9]+ 0x[0-9a-f]+ //; s/ \(BuildId.*//; s/ \(.*\/([^/ ]+)\+0x.*/ (\1)/' |
    sed -E 's/^in ([^(]+)\(.*\) (\/[^ ]+)$/in \1 \2/' || true)
  echo "${what:-does not happen again on a replay}${where:+; $where}"
}

# Each run gets its own folder, so a second run never deletes the findings of the first.
runs="$build/fuzz-runs/$(date +%Y%m%d-%H%M%S)"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
# DumpReader gives up on a child that has not answered a request after this long (a file libhdf5
# loops on); shorter than libFuzzer's -timeout below, so that such a file is a clean rejection,
# not a reported timeout.
export ATTNLAB_DUMP_READ_SECONDS=${ATTNLAB_DUMP_READ_SECONDS:-1}
failed=0
for target in "${targets[@]}"; do
  work="$runs/$target"
  binary="$build/tests/fuzz/${target}_fuzz"
  log="$work/fuzz.log"
  mkdir -p "$work/corpus" "$work/findings"
  cp -r "$root/tests/fuzz/corpus/$(inputs_of "$target")/." "$work/corpus/"
  seeds=$(find "$work/corpus" -type f | wc -l)
  options=(-max_total_time="$seconds" -max_len="$(max_len "$target")" -timeout=10
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/findings/")
  dict="$root/tests/fuzz/dict/$(inputs_of "$target").dict"
  [[ -f "$dict" ]] && options+=(-dict="$dict")
  # -runs=0 replays the seeds without fuzzing (-max_total_time=0 would mean no limit).
  [[ "$seconds" -eq 0 ]] && options+=(-runs=0)
  [[ "${ATTNLAB_FUZZ_KEEP_GOING:-0}" == 1 ]] &&
    options+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  echo "fuzz: $target for ${seconds} s (log: $log)"
  status=0
  # `dump`'s children die of libhdf5's memory errors all the time, by design; symbolising each
  # of their reports would take most of the run. Findings are symbolised by describe() below.
  sanitizer_options=${ASAN_OPTIONS:-}
  [[ "$target" == dump ]] && sanitizer_options="${sanitizer_options:+$sanitizer_options:}symbolize=0"
  # Its children inherit libFuzzer's malloc limit too, and libhdf5 asks for gigabytes on some
  # damaged files (a 4 GiB H5FL_blk_malloc was saved as an "oom" of the parent). The parent's
  # resident memory stays capped by -rss_limit_mb.
  [[ "$target" == dump ]] && options+=(-malloc_limit_mb=65536)
  ASAN_OPTIONS=$sanitizer_options "$binary" "${options[@]}" "$work/corpus" >"$log" 2>&1 ||
    status=$?

  # A single process ends with stat:: lines; a forking one reports "#N: cov: C ... exec/s E".
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
  executions=$(stat number_of_executed_units)
  [[ -z "$executions" ]] && executions=$(grep -oE '^#[0-9]+:' "$log" | tail -n 1 | tr -d '#:')
  speed=$(stat average_exec_per_sec)
  [[ -z "$speed" ]] && speed=$(grep -oE 'exec/s [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+$')
  coverage=$(grep -oE 'cov: [0-9]+' "$log" | sed -n '1s/cov: //p;$s/cov: / -> /p' | tr -d '\n')
  corpus=$(find "$work/corpus" -type f | wc -l)
  findings=$(find "$work/findings" -type f \
    \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
  count=$(grep -c . <<<"$findings" || true)
  printf '  executions %s, %s exec/s, coverage %s edges, corpus %s files (%s new)\n' \
    "${executions:-?}" "${speed:-?}" "${coverage:-?}" "$corpus" "$((corpus - seeds))"
  printf '  crashes %s\n' "$count"
  if [[ $status -ne 0 || $count -gt 0 ]]; then
    failed=1
    echo "  FAILED: exit status $status; see $log"
    while IFS= read -r input; do
      [[ -n "$input" ]] && printf '  input: %s\n    %s\n' "$input" "$(describe "$binary" "$input")"
    done <<<"$findings"
  fi
done
exit "$failed"
