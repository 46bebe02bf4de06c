#include "experiments/train/finished_run.h"

#include "experiments/model/model_config.h"
#include "experiments/train/checkpoint.h"

namespace attnlab::train {

void check_run_overrides(const std::vector<std::string>& overrides, const std::string& command) {
  for (const auto& text : overrides) {
    const auto key = config::parse_override(text).key;
    if (key.rfind("eval.", 0) != 0 && key.rfind("runtime.", 0) != 0) {
      throw config::ConfigError("override '" + text + "': " + command +
                                " takes only eval.* and runtime.* overrides (the model and task "
                                "are the run's)");
    }
  }
}

TrainedModel load_trained_model(const config::Config& config, const tasks::Task& task,
                                const std::filesystem::path& checkpoint,
                                const torch::Device& device) {
  model::Transformer model(model::model_spec(config, task));
  const auto state = load_checkpoint(checkpoint, model.ptr().get(), nullptr, config.to_toml());
  model->to(device);
  return {model, state.step};
}

std::int64_t eval_batch_size(const config::Config& config) {
  return config.get_int("eval.batch") > 0 ? config.get_int("eval.batch")
                                          : config.get_int("train.batch");
}

}  // namespace attnlab::train
