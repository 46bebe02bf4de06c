// attnlab compare DIR...: a table of variants (and any other differing config keys) per task,
// over seeds, with cost next to quality (analysis/compare/compare_folders.h); writes compare.md,
// compare.csv and SVG figures. --tune KEY adds the comparison with each group tuned over KEY,
// --induction-timing when each run's induction heads formed.
#include <fmt/core.h>

#include <stdexcept>

#include "analysis/compare/compare_folders.h"
#include "dump/hdf5_support.h"
#include "experiments/cli/bad_input.h"
#include "experiments/cli/commands.h"

namespace attnlab::cli {
namespace {

void run_compare(const analysis::CompareRequest& request) {
  const auto result = as_bad_input<std::invalid_argument, dump::DumpError>(
      [&] { return analysis::compare_folders(request); });
  fmt::print("{}", result.table);
  for (const auto& file : result.written) fmt::print("written {}\n", file.string());
}

}  // namespace

void add_compare_command(CLI::App& app) {
  auto request = std::make_shared<analysis::CompareRequest>();
  auto* command = app.add_subcommand(
      "compare", "compare runs (or sweeps): mean and 95% CI over seeds per group, ranked per task");
  command->add_option("dirs", request->dirs, "run directories, or folders holding runs")
      ->required();
  command->add_option("--out", request->out,
                      "output folder (default: <DIR>/compare for one DIR, ./compare otherwise)");
  command->add_option("--tune", request->tune.keys,
                      "swept config keys to tune per group (repeat or comma-separate, e.g. "
                      "train.lr): the setting best on validation, reported on test")
      ->delimiter(',')
      ->allow_extra_args(false);
  command->add_option("--tune-metric", request->tune.metric,
                      "what --tune chooses on and reports: accuracy, sequence_accuracy or loss")
      ->capture_default_str();
  command->add_flag("--induction-timing", request->induction_timing,
                    "also when each run's induction heads formed: the step at which prefix "
                    "matching jumped against the step at which icl_score dropped (task=induction, "
                    "with a recording); induction_timing.csv and .svg");
  command->callback([request] { run_compare(*request); });
}

}  // namespace attnlab::cli
