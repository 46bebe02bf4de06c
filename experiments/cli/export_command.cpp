// attnlab export: a run's checkpoint as a file PyTorch users load without attnlab
// (experiments/export/run_export.h): the weights under the documented names, the resolved config
// next to them and, with --probe N, the model's logits and attention probabilities for N
// validation examples, which scripts/reference.py checks.
#include <fmt/core.h>

#include "experiments/cli/commands.h"
#include "experiments/cli/run_arguments.h"
#include "experiments/export/run_export.h"

namespace attnlab::cli {
namespace {

void run_export(const exporting::ExportRequest& request) {
  const auto result = exporting::export_run(request);
  fmt::print("{} tensors from {} (step {}) -> {}\n", result.tensors,
             result.checkpoint.filename().string(), result.step, result.model_file.string());
  fmt::print("config -> {}\n", result.config_file.string());
  if (!result.probe_file.empty()) {
    fmt::print("probe of {} validation examples -> {}\n", request.probe,
               result.probe_file.string());
  }
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto request = std::make_shared<exporting::ExportRequest>();
  auto* command = app.add_subcommand(
      "export", "write a run's weights for PyTorch (safetensors; tensor names: docs/export.md)");
  add_run_options(*command, request->run, request->checkpoint);
  command->add_option("--format", request->format, "output format: safetensors")->required();
  command->add_option("--out", request->out,
                      "output file (default: <run>/export/model.safetensors); config.toml is "
                      "written next to it");
  command->add_option("--probe", request->probe,
                      "also write probe.safetensors next to it: inputs, logits and attention "
                      "probabilities of the first N validation examples (default 0: none)");
  command->callback([request] { run_export(*request); });
}

}  // namespace attnlab::cli
