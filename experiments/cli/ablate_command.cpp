// attnlab ablate --run DIR: which attention heads a trained run needs (Michel et al. 2019): head
// importance, the pruning curves and single-head ablations (experiments/train/run_ablation.h),
// written into <run>/ablation (or --out).
#include <fmt/core.h>

#include "experiments/cli/commands.h"
#include "experiments/cli/run_arguments.h"
#include "experiments/train/ablation_report.h"
#include "experiments/train/run_ablation.h"

namespace attnlab::cli {
namespace {

void run_ablate(const train::AblateRequest& request) {
  const auto result =
      train::ablate_run(request, [](const std::string& plan) { fmt::print("{}", plan); });
  fmt::print("{}", train::ablation_summary(result.ablation, result.layer_kinds));
  for (const auto& file : train::write_ablation(result)) {
    fmt::print("written {}\n", file.string());
  }
}

}  // namespace

void add_ablate_command(CLI::App& app) {
  auto request = std::make_shared<train::AblateRequest>();
  auto* command = app.add_subcommand(
      "ablate",
      "head importance, pruning curve and single-head ablations of a run (Michel et al. 2019)");
  add_run_options(*command, request->run, request->checkpoint);
  command->add_option("--split", request->split, "val (default) or test");
  command->add_option("--out", request->out,
                      "output folder for pruning.csv, ablation.csv, pruning.svg "
                      "(default: <run>/ablation)");
  command->add_option("--examples", request->examples,
                      "use only the split's first N examples (default 0: all of them)");
  command->add_option("overrides", request->overrides,
                      "eval.* and runtime.* overrides, e.g. runtime.threads=1 eval.batch=256");
  command->callback([request] { run_ablate(*request); });
}

}  // namespace attnlab::cli
