#include "experiments/export/run_export.h"

#include <map>

#include <fmt/core.h>
#include <torch/utils.h>

#include "base/atomic_file.h"
#include "base/read_file.h"
#include "experiments/export/export_format.h"
#include "experiments/export/probe.h"
#include "experiments/export/tensor_names.h"
#include "experiments/model/model_config.h"
#include "experiments/run/run_dir.h"
#include "experiments/run/schema.h"
#include "experiments/run/system_info.h"
#include "experiments/train/checkpoint.h"
#include "experiments/train/finished_run.h"

namespace attnlab::exporting {
namespace {

void check_probe_size(std::int64_t probe, const tasks::Task& task) {
  const auto validation = task.split_size(tasks::Split::Val);
  if (probe > validation) {
    throw config::ConfigError(
        fmt::format("--probe {} exceeds the {} validation examples", probe, validation));
  }
}

// The folder the files go to, created.
std::filesystem::path output_folder(const std::filesystem::path& model_file) {
  const auto directory = model_file.parent_path().empty() ? std::filesystem::path(".")
                                                          : model_file.parent_path();
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) {
    throw attnlab::IoError("cannot create " + directory.string() + ": " + error.message());
  }
  return directory;
}

std::map<std::string, std::string> model_metadata(const config::Config& config,
                                                  const tasks::Task& task,
                                                  const ExportResult& result) {
  const auto spec = model::model_spec(config, task);
  return {{"format", "attnlab.model"},
          {"format_version", kExportFormatVersion},
          {"attnlab_version", run::attnlab_version()},
          {"config", config.to_toml()},
          {"arch", spec.arch},
          {"num_classes", std::to_string(spec.num_classes)},
          {"checkpoint", result.checkpoint.filename().string()},
          {"step", std::to_string(result.step)}};
}

// The probe goes next to the model file it was made with.
std::filesystem::path write_probe(model::Transformer& model, const tasks::Task& task,
                                  std::int64_t samples, const ExportFormat& format,
                                  const ExportResult& result) {
  auto probe = run_probe(model, task, samples);
  probe.metadata["attnlab_version"] = run::attnlab_version();
  probe.metadata["model"] = result.model_file.filename().string();
  const auto probe_file = result.config_file.parent_path() / ("probe" + format.extension);
  format.write(probe_file, probe.tensors, probe.metadata);
  return probe_file;
}

// The config as trained. A run's vocabulary goes beside it, and the config names that copy, so
// the export folder tokenizes as the run did without the run.
std::string exported_config(const config::Config& config, const run::RunDir& run,
                            const ExportResult& result) {
  if (!std::filesystem::exists(run.vocabulary_file())) return config.to_toml();
  const auto copy = result.config_file.parent_path() / run.vocabulary_file().filename();
  const auto vocabulary = attnlab::read_file(run.vocabulary_file());
  if (!vocabulary) throw attnlab::IoError("cannot read " + run.vocabulary_file().string());
  attnlab::write_file_atomic(copy, *vocabulary);
  return config.with_string("task.vocabulary", std::filesystem::absolute(copy).string()).to_toml();
}

}  // namespace

ExportResult export_run(const ExportRequest& request) {
  const auto& format = export_format(request.format);
  if (request.probe < 0) throw config::ConfigError("--probe must be 0 (none) or more");
  const auto run = run::RunDir::open(request.run);
  const auto config = run::load_run_config(run, {});
  torch::set_num_threads(run::resolve_threads(config));
  const auto task = tasks::make_task(config);
  check_probe_size(request.probe, *task);

  ExportResult result;
  result.checkpoint = train::find_checkpoint(run.checkpoints(), request.checkpoint);
  auto trained = train::load_trained_model(config, *task, result.checkpoint, torch::kCPU);
  trained.model->eval();
  result.step = trained.step;
  result.model_file = request.out.empty()
                          ? run.path() / "export" / ("model" + format.extension)
                          : request.out;
  result.config_file = output_folder(result.model_file) / "config.toml";
  const auto weights = named_weights(*trained.model);
  result.tensors = weights.size();
  format.write(result.model_file, weights, model_metadata(config, *task, result));
  attnlab::write_file_atomic(result.config_file, exported_config(config, run, result));
  if (request.probe > 0) {
    result.probe_file = write_probe(trained.model, *task, request.probe, format, result);
  }
  return result;
}

}  // namespace attnlab::exporting
