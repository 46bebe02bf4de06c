#!/usr/bin/env bash
# The report in a real browser (Debian's Chromium through playwright-core): a small sweep of two
# variants x two seeds, one run analysed and ablated; the sweep's report and the run's report
# (with the other variant's run beside it in the explorer) must load without a console error or
# a network request, draw marks in every chart, redraw the explorer's map when another head is
# chosen, and write their SVG figures. Screenshots are left in the output folder.
#   test_report_browser.sh ATTNLAB_BINARY SOURCE_DIR OUTPUT_DIR
set -euo pipefail
attnlab=$1 source=$2 out=$3
check="$source/tests/report/check_report.mjs"
rm -rf "$out"
mkdir -p "$out"
cd "$source"

"$attnlab" sweep --config configs/demo.toml variant=scaled,rope seed=0,1 train.steps=60 \
  train.eval_every=20 train.checkpoint_every=30 record.every=20 runtime.progress=none \
  experiment.results_dir="$out/results" --jobs 2 >"$out/sweep.log" 2>&1
sweep=$(echo "$out"/results/demo/sweep-*)
scaled="$sweep/000-variant=scaled,seed=0"
rope="$sweep/002-variant=rope,seed=0"
"$attnlab" analyze "$scaled/attention.h5" >"$out/analyze.log"
"$attnlab" ablate --run "$scaled" runtime.threads=2 >"$out/ablate.log" 2>&1

"$attnlab" report "$sweep"
node "$check" "$sweep/report.html" "$out/sweep-report.png" --explorer \
  --expect=bars-mqar,curves-mqar,cost-speed-mqar,cost-memory-mqar,heads-entropy-,labels-,similarity-,pruning-
"$attnlab" report "$scaled" --with "$rope" --samples 1
node "$check" "$scaled/report.html" "$out/run-report.png" --explorer \
  --expect=heads-entropy-,labels-,similarity-,pruning-,probe-loss-

for figures in "$sweep/report-figures" "$scaled/report-figures"; do
  count=$(find "$figures" -name '*.svg' | wc -l)
  if [[ $count -eq 0 ]]; then
    echo "no SVG figures in $figures" >&2
    exit 1
  fi
  echo "$count figures in $figures"
done
for figure in bars-mqar curves-mqar; do
  [[ -s "$sweep/report-figures/$figure.svg" ]] || { echo "missing $figure.svg" >&2; exit 1; }
done
