#include "experiments/train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <algorithm>

#include <torch/serialize/archive.h>

#include "experiments/run/atomic_file.h"

namespace attnlab::train {
namespace {

constexpr const char* kFormat = "attnlab-checkpoint-1";

torch::Tensor doubles(const std::vector<double>& values) {
  return torch::tensor(values, torch::kDouble);
}

std::vector<double> to_vector(const torch::Tensor& tensor) {
  auto contiguous = tensor.contiguous();
  return {contiguous.data_ptr<double>(), contiguous.data_ptr<double>() + contiguous.numel()};
}

}  // namespace

std::filesystem::path step_checkpoint_path(const std::filesystem::path& directory,
                                           std::int64_t step) {
  return directory / fmt::format("step-{:08}.pt", step);
}

std::vector<std::filesystem::path> step_checkpoints(const std::filesystem::path& directory) {
  std::vector<std::filesystem::path> found;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
    const auto name = entry.path().filename().string();
    if (name.rfind("step-", 0) == 0 && entry.path().extension() == ".pt") found.push_back(entry.path());
  }
  // Zero-padded names sort by step.
  std::sort(found.rbegin(), found.rend());
  return found;
}

std::filesystem::path find_checkpoint(const std::filesystem::path& directory,
                                      const std::string& which) {
  if (which == "best" && std::filesystem::exists(directory / "best.pt")) return directory / "best.pt";
  if (which == "best" || which == "latest") {
    const auto steps = step_checkpoints(directory);
    if (steps.empty()) throw CheckpointError("no checkpoint in " + directory.string());
    return steps.front();
  }
  if (!std::filesystem::exists(which)) throw CheckpointError("checkpoint not found: " + which);
  return which;
}

void prune_checkpoints(const std::filesystem::path& directory, std::int64_t keep) {
  const auto found = step_checkpoints(directory);
  for (std::size_t index = static_cast<std::size_t>(keep); index < found.size(); ++index) {
    std::error_code error;
    std::filesystem::remove(found[index], error);
  }
}

void save_checkpoint(const std::filesystem::path& path, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, const TrainerState& state,
                     const std::string& config_toml) {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive;
  model.save(model_archive);
  archive.write("model", model_archive);
  torch::serialize::OutputArchive optimizer_archive;
  optimizer.save(optimizer_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("format", c10::IValue(std::string(kFormat)));
  archive.write("config", c10::IValue(config_toml));
  archive.write("step", torch::tensor(state.step, torch::kLong));
  archive.write("window", doubles(state.window));
  archive.write("best", doubles({state.best_val_loss, static_cast<double>(state.best_step),
                                 state.train_seconds}));
  archive.write("rng", at::detail::getDefaultCPUGenerator().get_state());
  const auto temporary = run::temporary_path_for(path);
  try {
    archive.save_to(temporary.string());
  } catch (const c10::Error& error) {
    std::filesystem::remove(temporary);
    throw run::IoError("cannot write checkpoint " + path.string() + ": " +
                       error.what_without_backtrace());
  }
  run::commit_file(temporary, path);
}

TrainerState load_checkpoint(const std::filesystem::path& path, torch::nn::Module* model,
                             torch::optim::Optimizer* optimizer) {
  TrainerState state;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path.string());
    c10::IValue format;
    if (!archive.try_read("format", format) || !format.isString() ||
        format.toStringRef() != kFormat) {
      throw CheckpointError("not an attnlab checkpoint (format tag missing)");
    }
    if (model != nullptr) {
      torch::serialize::InputArchive model_archive;
      archive.read("model", model_archive);
      model->load(model_archive);
    }
    if (optimizer != nullptr) {
      torch::serialize::InputArchive optimizer_archive;
      archive.read("optimizer", optimizer_archive);
      optimizer->load(optimizer_archive);
    }
    torch::Tensor step, window, best, rng;
    archive.read("step", step);
    archive.read("window", window);
    archive.read("best", best);
    archive.read("rng", rng);
    state.step = step.item<std::int64_t>();
    state.window = to_vector(window);
    const auto best_values = to_vector(best);
    state.best_val_loss = best_values.at(0);
    state.best_step = static_cast<std::int64_t>(best_values.at(1));
    state.train_seconds = best_values.at(2);
    if (model != nullptr) {
      at::Generator generator = at::detail::getDefaultCPUGenerator();  // a handle to the global one
      generator.set_state(rng);
    }
  } catch (const c10::Error& error) {
    throw CheckpointError("cannot load checkpoint " + path.string() + ": " +
                          error.what_without_backtrace());
  } catch (const CheckpointError& error) {
    throw CheckpointError("cannot load checkpoint " + path.string() + ": " + error.what());
  }
  return state;
}

}  // namespace attnlab::train
