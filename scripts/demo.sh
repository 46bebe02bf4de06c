#!/usr/bin/env bash
# The main job on its default config: set up, build, train the default experiment
# (configs/experiment.toml), and say where the results are. Overrides pass through:
#   scripts/demo.sh variant=dot train.steps=300
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh" attnlab
build=${ATTNLAB_BUILD_DIR:-$root/build}
cd "$root"
run_dir=$("$build/experiments/attnlab" train "$@")
echo
echo "results: $run_dir"
echo "  summary.json  final and best metrics, tokens/s, peak memory, versions"
echo "  metrics.csv   one row per logged step (pandas.read_csv)"
echo "  config.toml   reproduce with: $build/experiments/attnlab train --config $run_dir/config.toml"
