#include "experiments/run/preflight.h"

#include <fmt/format.h>
#include <torch/cuda.h>

#include "experiments/model/attention_shapes.h"
#include "experiments/model/model_config.h"
#include "variants/attention_variant.h"
#include "variants/options.h"

namespace attnlab::run {

void check_input_length(const config::Config& config, const tasks::Task& task,
                        std::int64_t length, const std::string& where) {
  const auto spec = model::model_spec(config, task);
  for (const auto& shape : model::attention_shapes(spec, length, task.source_length())) {
    try {
      variants::validate_lengths(shape.variant, shape.site, shape.query_length, shape.key_length);
    } catch (const variants::VariantError& error) {
      // A layer's preset is named where its copy's keys are: layer_variant.<preset>.*.
      const std::string layers =
          shape.layer_variant.empty()
              ? std::string()
              : fmt::format(" of the layers using '{}' (model.layer_variants; keys {}.{}.*)",
                            shape.layer_variant, model::kLayerVariantTables, shape.layer_variant);
      throw config::ConfigError(fmt::format("{} ({} attention{} over {} queries x {} keys {})",
                                            error.what(), shape.kind, layers, shape.query_length,
                                            shape.key_length, where));
    }
  }
}


bool evaluates_at(const config::Config& config, const tasks::Task& trained, const tasks::Task& other) {
  return config.get_string("model.positions") != "learned" ||
         other.sequence_length() <= trained.sequence_length();
}

void check_device_available(const config::Config& config) {
  const std::string text = config.get_string("runtime.device");
  const torch::Device device(text);  // the schema has checked that it parses
  if (!device.is_cuda()) return;
  if (!torch::cuda::is_available()) {
    throw config::ConfigError("runtime.device = '" + text + "': this attnlab is built against a "
                              "LibTorch without CUDA, or no GPU is visible; use runtime.device=cpu, "
                              "or build against a CUDA LibTorch 2.x on a GPU machine");
  }
  const auto count = static_cast<std::int64_t>(torch::cuda::device_count());
  if (device.has_index() && device.index() >= count) {
    throw config::ConfigError("runtime.device = '" + text + "': this machine has " +
                              std::to_string(count) + " GPU(s), cuda:0 to cuda:" +
                              std::to_string(count - 1));
  }
}

void check_runnable(const config::Config& config) {
  check_device_available(config);
  check_shapes(config);
}

void check_shapes(const config::Config& config) {
  const auto task = tasks::make_task(config);
  check_input_length(config, *task, task->sequence_length(),
                     fmt::format("at task.length = {}, the training and recording length",
                                 config.get_int("task.length")));
  for (const auto length : config.get_int_list("eval.lengths")) {
    const auto at_length = config.with_int("task.length", length);
    std::shared_ptr<tasks::Task> other;
    try {
      other = tasks::make_task(at_length);
    } catch (const config::ConfigError& error) {
      throw config::ConfigError(fmt::format("eval.lengths: the task at length {}: {}", length, error.what()));
    }
    if (!evaluates_at(config, *task, *other)) continue;
    check_input_length(at_length, *other, other->sequence_length(),
                       fmt::format("at eval.lengths value {}", length));
  }
}

}  // namespace attnlab::run
