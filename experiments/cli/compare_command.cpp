// attnlab compare DIR...: a table of variants (and any other differing config keys) per task,
// over seeds, with cost next to quality; writes compare.md, compare.csv and SVG figures.
#include <fmt/core.h>

#include "analysis/compare/comparison.h"
#include "experiments/cli/commands.h"
#include "experiments/config/config.h"

namespace attnlab::cli {
namespace {

struct CompareArguments {
  std::vector<std::filesystem::path> dirs;
  std::filesystem::path out;
};

void run_compare(const CompareArguments& arguments) {
  std::vector<analysis::RunResult> runs;
  try {
    runs = analysis::load_runs(arguments.dirs);
  } catch (const std::invalid_argument& error) {
    throw config::ConfigError(error.what());
  }
  const auto comparison = analysis::compare_runs(runs);
  fmt::print("{}", analysis::comparison_table(comparison));
  const auto out = arguments.out.empty()
                       ? (arguments.dirs.size() == 1 ? arguments.dirs.front() / "compare"
                                                     : std::filesystem::path("compare"))
                       : arguments.out;
  for (const auto& file : analysis::write_comparison(comparison, out)) {
    fmt::print("written {}\n", file.string());
  }
}

}  // namespace

void add_compare_command(CLI::App& app) {
  auto arguments = std::make_shared<CompareArguments>();
  auto* command = app.add_subcommand(
      "compare", "compare runs (or sweeps): mean and 95% CI over seeds per group, ranked per task");
  command->add_option("dirs", arguments->dirs, "run directories, or folders holding runs")
      ->required();
  command->add_option("--out", arguments->out,
                      "output folder (default: <DIR>/compare for one DIR, ./compare otherwise)");
  command->callback([arguments] { run_compare(*arguments); });
}

}  // namespace attnlab::cli
