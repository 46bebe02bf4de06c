#!/usr/bin/env bash
# The main job on its default config: set up, build, then train six attention variants (scaled,
# dot, additive, rope, local, bigbird) x 2 seeds on mqar (configs/demo.toml), two runs at a time
# with the cores split between them, compare them (table, compare.md/.csv, SVG figures) and write
# an HTML report with an attention explorer (report.html).
# Overrides pass through to every run:
#   scripts/demo.sh train.steps=300
#   ATTNLAB_DEMO_VARIANTS="scaled local" ATTNLAB_DEMO_SEEDS="0" scripts/demo.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh" attnlab
build=${ATTNLAB_BUILD_DIR:-$root/build}
attnlab="$build/experiments/attnlab"
cd "$root"

variants=${ATTNLAB_DEMO_VARIANTS:-scaled dot additive rope local bigbird}
seeds=${ATTNLAB_DEMO_SEEDS:-0 1}
parallel=${ATTNLAB_DEMO_JOBS:-2}
if ! [[ "$parallel" =~ ^[1-9][0-9]*$ ]]; then
  echo "error: ATTNLAB_DEMO_JOBS must be a positive integer, got '$parallel'" >&2
  exit 2
fi
cores=$(nproc)
threads=$(( cores / parallel > 0 ? cores / parallel : 1 ))
# Fail early, before any run starts or anything is written, on a bad override.
"$attnlab" config show --config configs/demo.toml "$@" >/dev/null
out="results/demo/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"

jobs=()
for variant in $variants; do
  for seed in $seeds; do jobs+=("variant=$variant seed=$seed"); done
done
echo "demo: ${#jobs[@]} runs, $parallel at a time with $threads threads each, into $out"
start=$(date +%s)
status=0
# Each job line ("variant=X seed=S") reaches the worker as an argument, never as script text.
printf '%s\n' "${jobs[@]}" | xargs -P "$parallel" -I{} sh -c '
  out=$1 attnlab=$2 threads=$3 job=$4; shift 4
  log="$out/$(printf "%s" "$job" | tr " =" "_-").log"
  # shellcheck disable=SC2086  # the job line splits into its two overrides
  if "$attnlab" train --config configs/demo.toml $job experiment.results_dir="$out" \
      runtime.threads="$threads" runtime.progress=lines "$@" >"$log" 2>&1; then
    echo "  done   $job  -> $(tail -n 1 "$log")"
  else
    echo "  FAILED $job  (log: $log)"; exit 1
  fi' _ "$out" "$attnlab" "$threads" {} "$@" || status=$?
echo "demo: trained in $(( $(date +%s) - start )) s"
echo
"$attnlab" compare "$out" --out "$out/compare"
echo
"$attnlab" report "$out"
echo
echo "results: $out"
echo "  report.html          open in a browser: charts, head grids, attention explorer (offline)"
echo "  compare/compare.md   the table above; compare.csv for pandas; compare/*.svg figures"
echo "  demo/<run>/          per run: summary.json, metrics.csv, attention.h5, config.toml"
exit "$status"
