// attnlab eval: evaluate a trained run's checkpoint on a split, and at other lengths
// (eval.lengths) to measure length generalisation. Writes <run>/eval-<split>.json.
#include <fmt/core.h>

#include "experiments/cli/commands.h"
#include "experiments/cli/run_arguments.h"
#include "experiments/train/run_evaluation.h"

namespace attnlab::cli {
namespace {

void run_eval(const train::EvalRequest& request) {
  const auto evaluation = train::evaluate_run(request);
  fmt::print("{}", train::evaluation_table(evaluation));
  fmt::print("written {}\n", train::write_evaluation(evaluation).string());
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto request = std::make_shared<train::EvalRequest>();
  auto* command = app.add_subcommand(
      "eval", "evaluate a run's checkpoint on a split and at other lengths (eval.lengths)");
  add_run_options(*command, request->run, request->checkpoint);
  command->add_option("--split", request->split, "val or test (default: test)");
  command->add_option("overrides", request->overrides,
                      "eval.* and runtime.* overrides, e.g. eval.lengths=[32,64]");
  command->callback([request] { run_eval(*request); });
}

}  // namespace attnlab::cli
