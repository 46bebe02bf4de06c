#include "experiments/train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include <toml++/toml.h>
#include <torch/serialize/archive.h>

#include "base/atomic_file.h"

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

// Leaves of the tables named in `tables` as "key" -> TOML text of the value.
void leaves(const toml::table& table, const std::string& prefix,
            const std::vector<std::string>& tables, std::map<std::string, std::string>& out) {
  for (const auto& [name, node] : table) {
    const std::string key = prefix.empty() ? std::string(name.str())
                                           : prefix + "." + std::string(name.str());
    if (prefix.empty() && std::find(tables.begin(), tables.end(), key) == tables.end()) continue;
    if (const auto* child = node.as_table()) {
      leaves(*child, key, tables, out);
    } else {
      std::ostringstream text;
      node.visit([&text](const auto& leaf) { text << leaf; });
      out[key] = text.str();
    }
  }
}

// The model keys that change what the weights compute without always changing their shapes
// (model.heads splits the same projections differently; positions, norms and the MLP come and
// go). The preset's name, dropout and initialisation do not change a trained model.
bool shapes_computation(const std::string& key) {
  return key.rfind("model.", 0) == 0 && key != "model.name" && key != "model.dropout" &&
         key != "model.init" && key != "model.init_std";
}

// "key = X in the checkpoint, Y here; ..." over the leaves of `tables` that `keep` accepts
// (called with the key and whether both configs have it).
template <typename Keep>
std::string config_difference(const std::string& checkpoint_config,
                              const std::string& expected_config,
                              const std::vector<std::string>& tables, Keep keep) {
  std::map<std::string, std::string> saved, expected;
  try {
    leaves(toml::parse(checkpoint_config), "", tables, saved);
    leaves(toml::parse(expected_config), "", tables, expected);
  } catch (const toml::parse_error&) {
    return {};
  }
  std::vector<std::string> differences;
  const auto describe = [](const std::map<std::string, std::string>& values,
                           const std::string& key) {
    const auto found = values.find(key);
    return found == values.end() ? std::string("absent") : found->second;
  };
  std::map<std::string, std::string> keys = saved;
  keys.insert(expected.begin(), expected.end());
  for (const auto& [key, unused] : keys) {
    const auto before = describe(saved, key);
    const auto now = describe(expected, key);
    if (before != now && keep(key, saved.count(key) > 0 && expected.count(key) > 0)) {
      differences.push_back(fmt::format("{} = {} in the checkpoint, {} here", key, before, now));
    }
  }
  std::string text;
  for (const auto& difference : differences) text += (text.empty() ? "" : "; ") + difference;
  return text;
}

// The first name the archive holds at `module`'s level or below that the module has no
// parameter, buffer or submodule for ("blocks.2"), or empty. Module::load reads only what the
// model has, so a checkpoint of a deeper model would otherwise load into a shallower one.
std::string unexpected_key(torch::nn::Module& module, torch::serialize::InputArchive& archive,
                           const std::string& prefix) {
  std::set<std::string> known;
  for (const auto& item : module.named_parameters(/*recurse=*/false)) known.insert(item.key());
  for (const auto& item : module.named_buffers(/*recurse=*/false)) known.insert(item.key());
  for (const auto& item : module.named_children()) known.insert(item.key());
  for (const auto& key : archive.keys()) {
    if (known.count(key) == 0 && key != "training") return prefix + key;
  }
  for (const auto& item : module.named_children()) {
    torch::serialize::InputArchive child;
    if (!archive.try_read(item.key(), child)) continue;
    auto found = unexpected_key(*item.value(), child, prefix + item.key() + ".");
    if (!found.empty()) return found;
  }
  return {};
}

void check_format(torch::serialize::InputArchive& archive) {
  c10::IValue format;
  if (!archive.try_read("format", format) || !format.isString() ||
      format.toStringRef() != kFormat) {
    throw CheckpointError("not an attnlab checkpoint (format tag missing)");
  }
}

// The model's parameters and buffers as they are now: their names and shapes, and a copy of their
// data to put back. Module::load replaces each tensor with the saved one whatever its shape, and
// in place as it goes, so a checkpoint of another architecture would load and fail later, deep in
// a forward pass, with some tensors replaced.
struct ModelSnapshot {
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> shapes;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> before;  // tensor, its data now
};

ModelSnapshot snapshot_of(torch::nn::Module& model) {
  ModelSnapshot snapshot;
  const auto keep = [&snapshot](const auto& item) {
    snapshot.shapes.emplace_back(item.key(), item.value().sizes().vec());
    snapshot.before.emplace_back(item.value(), item.value().detach().clone());
  };
  for (const auto& item : model.named_parameters()) keep(item);
  for (const auto& item : model.named_buffers()) keep(item);
  return snapshot;
}

void restore(ModelSnapshot& snapshot) {
  for (auto& [tensor, data] : snapshot.before) tensor.set_data(data);
}

// Loads the weights; returns what does not fit ("blocks.0.w is 4x4 in the checkpoint, 8x8 in
// this model"), or empty when all of them do.
std::string load_weights(torch::nn::Module& model, torch::serialize::InputArchive& model_archive,
                         const ModelSnapshot& snapshot) {
  try {
    model.load(model_archive);
    const auto parameters = model.named_parameters();
    const auto buffers = model.named_buffers();
    for (const auto& [name, shape] : snapshot.shapes) {
      const auto* parameter = parameters.find(name);
      const auto now = parameter != nullptr ? parameter->sizes().vec()
                                            : buffers.find(name)->sizes().vec();
      if (now != shape) {
        return fmt::format("{} is {} in the checkpoint, {} in this model", name,
                           fmt::join(now, "x"), fmt::join(shape, "x"));
      }
    }
    return {};
  } catch (const c10::Error& error) {
    const std::string message = error.what_without_backtrace();
    return message.substr(0, message.find('\n'));
  }
}

// Loads the checkpoint's weights into `model`; throws CheckpointMismatch, with the model as it
// was, when they were made for another model. The configs say which choice made the
// architectures differ.
void load_model(torch::serialize::InputArchive& archive, torch::nn::Module& model,
                const std::string& expected_config) {
  torch::serialize::InputArchive model_archive;
  archive.read("model", model_archive);
  c10::IValue saved;
  const std::string saved_config =
      archive.try_read("config", saved) && saved.isString() ? saved.toStringRef() : "";
  const bool both_configs = !expected_config.empty() && !saved_config.empty();
  const auto configured_differently = [&] {
    const auto difference =
        both_configs ? architecture_difference(saved_config, expected_config) : std::string();
    return difference.empty() ? std::string() : "; configured differently: " + difference;
  };
  const auto extra = unexpected_key(model, model_archive, "");
  if (!extra.empty()) {
    throw CheckpointMismatch("its weights do not fit this model (" + extra +
                             " is in the checkpoint, not in this model)" +
                             configured_differently());
  }
  auto snapshot = snapshot_of(model);
  const auto mismatch = load_weights(model, model_archive, snapshot);
  // Same names and shapes can still mean another model (4 heads or 8 over the same projections,
  // another position scheme).
  const auto structure =
      !mismatch.empty() || !both_configs
          ? std::string()
          : config_difference(saved_config, expected_config, {"model"},
                              [](const std::string& key, bool in_both) {
                                // A key newer than the checkpoint is not a difference.
                                return in_both && shapes_computation(key);
                              });
  if (mismatch.empty() && structure.empty()) return;
  restore(snapshot);
  if (!structure.empty()) {
    throw CheckpointMismatch("it was made for another model, though its weights have this "
                             "model's shapes: " + structure);
  }
  throw CheckpointMismatch("its weights do not fit this model (" + mismatch + ")" +
                           configured_differently());
}

struct SavedCounters {
  TrainerState state;
  torch::Tensor rng;  // the global CPU generator's state
};

SavedCounters read_counters(torch::serialize::InputArchive& archive) {
  torch::Tensor step, window, best;
  SavedCounters saved;
  archive.read("step", step);
  archive.read("window", window);
  archive.read("best", best);
  archive.read("rng", saved.rng);
  auto& state = saved.state;
  state.step = step.item<std::int64_t>();
  state.window = StepSums::from_vector(to_vector(window));
  const auto best_values = to_vector(best);
  state.best_val_loss = best_values.at(0);
  state.best_step = static_cast<std::int64_t>(best_values.at(1));
  state.train_seconds = best_values.at(2);
  torch::Tensor skipped;  // absent from checkpoints written before train.skip_nonfinite
  if (archive.try_read("skipped", skipped)) state.skipped_steps = skipped.item<std::int64_t>();
  return saved;
}

}  // namespace

std::string architecture_difference(const std::string& checkpoint_config,
                                    const std::string& expected_config) {
  return config_difference(checkpoint_config, expected_config, {"model", "variant", "task"},
                           [](const std::string&, bool) { return true; });
}

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
  archive.write("window", doubles(state.window.to_vector()));
  archive.write("best", doubles({state.best_val_loss, static_cast<double>(state.best_step),
                                 state.train_seconds}));
  archive.write("rng", at::detail::getDefaultCPUGenerator().get_state());
  archive.write("skipped", torch::tensor(state.skipped_steps, torch::kLong));
  const auto temporary = attnlab::temporary_path_for(path);
  try {
    archive.save_to(temporary.string());
  } catch (const c10::Error& error) {
    std::filesystem::remove(temporary);
    throw attnlab::IoError("cannot write checkpoint " + path.string() + ": " +
                       error.what_without_backtrace());
  }
  attnlab::commit_file(temporary, path);
}

TrainerState load_checkpoint(const std::filesystem::path& path, torch::nn::Module* model,
                             torch::optim::Optimizer* optimizer,
                             const std::string& expected_config) {
  const auto failure = [&](const std::string& reason) {
    return "cannot load checkpoint " + path.string() + ": " + reason;
  };
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path.string());
    check_format(archive);
    if (model != nullptr) load_model(archive, *model, expected_config);
    if (optimizer != nullptr) {
      torch::serialize::InputArchive optimizer_archive;
      archive.read("optimizer", optimizer_archive);
      optimizer->load(optimizer_archive);
    }
    const auto saved = read_counters(archive);
    if (model != nullptr) {
      at::Generator generator = at::detail::getDefaultCPUGenerator();  // a handle to the global one
      generator.set_state(saved.rng);
    }
    return saved.state;
  } catch (const c10::Error& error) {
    throw CheckpointError(failure(error.what_without_backtrace()));
  } catch (const CheckpointMismatch& error) {
    throw CheckpointMismatch(failure(error.what()));
  } catch (const CheckpointError& error) {
    throw CheckpointError(failure(error.what()));
  } catch (const std::exception& error) {  // e.g. a short counter tensor
    throw CheckpointError(failure(error.what()));
  }
}

}  // namespace attnlab::train
