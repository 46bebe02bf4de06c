// attnlab export: a run's checkpoint as a file PyTorch users load without attnlab. Writes the
// weights under the documented names (experiments/export/tensor_names.h), the resolved config
// next to them and, with --probe N, the model's logits and attention probabilities for N
// validation examples (experiments/export/probe.h), which scripts/reference.py checks.
#include <functional>
#include <map>

#include <fmt/core.h>
#include <torch/utils.h>

#include "experiments/cli/commands.h"
#include "experiments/cli/run_arguments.h"
#include "experiments/export/probe.h"
#include "experiments/export/safetensors_writer.h"
#include "experiments/export/tensor_names.h"
#include "experiments/model/model_config.h"
#include "experiments/run/atomic_file.h"
#include "experiments/run/run_dir.h"
#include "experiments/run/schema.h"
#include "experiments/run/system_info.h"
#include "experiments/train/checkpoint.h"

namespace attnlab::cli {
namespace {

// Version of the export's layout: the naming contract and the metadata keys. Bump it when either
// changes incompatibly, so readers can refuse files they do not understand.
constexpr const char* kExportFormatVersion = "1";

struct ExportArguments {
  std::filesystem::path run;
  std::string format;
  std::string checkpoint = "best";
  std::filesystem::path out;
  std::int64_t probe = 0;
};

using Writer = std::function<void(const std::filesystem::path&,
                                  const std::vector<exporting::NamedTensor>&,
                                  const std::map<std::string, std::string>&)>;

// Output formats by name (--format); the default file extension of each.
struct Format {
  std::string extension;
  Writer write;
};
const std::map<std::string, Format>& formats() {
  static const std::map<std::string, Format> known = {
      {"safetensors", {".safetensors", exporting::write_safetensors}}};
  return known;
}

const Format& chosen_format(const std::string& name) {
  const auto found = formats().find(name);
  if (found != formats().end()) return found->second;
  std::string names;
  for (const auto& [known, format] : formats()) names += (names.empty() ? "" : ", ") + known;
  throw config::ConfigError("--format '" + name + "' is not a known export format (known: " +
                            names + ")");
}

void run_export(const ExportArguments& arguments) {
  const auto& format = chosen_format(arguments.format);
  if (arguments.probe < 0) throw config::ConfigError("--probe must be 0 (none) or more");
  const auto run = run::RunDir::open(arguments.run);
  const auto config = run::load_config(run.config_file(), {});
  torch::set_num_threads(run::resolve_threads(config));

  const auto task = tasks::make_task(config);
  const auto validation = task->split_size(tasks::Split::Val);
  if (arguments.probe > validation) {
    throw config::ConfigError(fmt::format("--probe {} exceeds the {} validation examples",
                                          arguments.probe, validation));
  }
  const auto spec = model::model_spec(config, *task);
  model::Transformer model(spec);
  const auto checkpoint = train::find_checkpoint(run.checkpoints(), arguments.checkpoint);
  const auto state = train::load_checkpoint(checkpoint, model.ptr().get(), nullptr,
                                            config.to_toml());
  model->to(torch::kCPU);
  model->eval();

  const auto out = arguments.out.empty() ? run.path() / "export" / ("model" + format.extension)
                                         : arguments.out;
  const auto directory = out.parent_path().empty() ? std::filesystem::path(".") : out.parent_path();
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) throw run::IoError("cannot create " + directory.string() + ": " + error.message());

  const auto config_toml = config.to_toml();
  std::map<std::string, std::string> metadata = {
      {"format", "attnlab.model"},
      {"format_version", kExportFormatVersion},
      {"attnlab_version", run::attnlab_version()},
      {"config", config_toml},
      {"arch", spec.arch},
      {"num_classes", std::to_string(spec.num_classes)},
      {"checkpoint", checkpoint.filename().string()},
      {"step", std::to_string(state.step)}};
  const auto weights = exporting::named_weights(*model);
  format.write(out, weights, metadata);
  run::write_file_atomic(directory / "config.toml", config_toml);
  fmt::print("{} tensors from {} (step {}) -> {}\n", weights.size(),
             checkpoint.filename().string(), state.step, out.string());
  fmt::print("config -> {}\n", (directory / "config.toml").string());

  if (arguments.probe > 0) {
    auto probe = exporting::run_probe(model, *task, arguments.probe);
    probe.metadata["attnlab_version"] = run::attnlab_version();
    probe.metadata["model"] = out.filename().string();
    const auto probe_file = directory / ("probe" + format.extension);
    format.write(probe_file, probe.tensors, probe.metadata);
    fmt::print("probe of {} validation examples -> {}\n", arguments.probe, probe_file.string());
  }
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto arguments = std::make_shared<ExportArguments>();
  auto* command = app.add_subcommand(
      "export", "write a run's weights for PyTorch (safetensors; tensor names: docs/export.md)");
  add_run_options(*command, arguments->run, arguments->checkpoint);
  command->add_option("--format", arguments->format, "output format: safetensors")->required();
  command->add_option("--out", arguments->out,
                      "output file (default: <run>/export/model.safetensors); config.toml is "
                      "written next to it");
  command->add_option("--probe", arguments->probe,
                      "also write probe.safetensors next to it: inputs, logits and attention "
                      "probabilities of the first N validation examples (default 0: none)");
  command->callback([arguments] { run_export(*arguments); });
}

}  // namespace attnlab::cli
