#include "experiments/train/optimizer.h"

namespace attnlab::train {

AdamWSettings adamw_settings(const config::Config& config) {
  return {config.get_float("train.lr"), config.get_float("train.beta1"),
          config.get_float("train.beta2"), config.get_float("train.eps"),
          config.get_float("train.weight_decay")};
}

torch::optim::AdamW make_optimizer(model::TransformerImpl& model, const AdamWSettings& settings) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& parameter : model.parameters()) {
    (parameter.dim() >= 2 ? decay : no_decay).push_back(parameter);
  }
  const auto options = torch::optim::AdamWOptions(settings.lr)
                           .betas({settings.beta1, settings.beta2})
                           .eps(settings.eps);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(options).weight_decay(
                                     settings.weight_decay)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(options).weight_decay(0.0)));
  return torch::optim::AdamW(groups, options);
}

void set_learning_rate(torch::optim::AdamW& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
  }
}

}  // namespace attnlab::train
