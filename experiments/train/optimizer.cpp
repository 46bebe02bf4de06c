#include "experiments/train/optimizer.h"

#include <cmath>

#include <ATen/Parallel.h>

#include "experiments/train/adamw_kernel.h"
#include "base/torch_compat.h"

namespace attnlab::train {
namespace {

bool fusable(const torch::Tensor& tensor) {
  return tensor.layout() == torch::kStrided && tensor.device().is_cpu() &&
         tensor.scalar_type() == torch::kFloat && tensor.is_contiguous();
}

// The key LibTorch's AdamW files a parameter's state under, so that either loads the other's.
auto state_key(const torch::Tensor& parameter) { return compat::optimizer_state_key(parameter); }

// Written through raw pointers: bump the versions as in-place tensor operations would, so that a
// graph still holding the parameter reports the change instead of using the new values.
void mark_modified(std::initializer_list<const torch::Tensor*> tensors) {
  for (const auto* tensor : tensors) tensor->unsafeGetTensorImpl()->bump_version();
}

void update(const torch::Tensor& parameter, const torch::Tensor& gradient,
            const torch::Tensor& exp_avg, const torch::Tensor& exp_avg_sq,
            const torch::optim::AdamWOptions& options, std::int64_t step) {
  const auto [beta1, beta2] = options.betas();
  const double correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double correction2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  // Without weight decay LibTorch skips the product; a product by exactly 1 changes nothing.
  const AdamWConstants k{static_cast<float>(1.0 - options.lr() * options.weight_decay()),
                         static_cast<float>(beta1),
                         static_cast<float>(1.0 - beta1),
                         static_cast<float>(beta2),
                         static_cast<float>(1.0 - beta2),
                         static_cast<float>(std::sqrt(correction2)),
                         static_cast<float>(options.eps()),
                         static_cast<float>(-options.lr() / correction1)};
  float* p = parameter.data_ptr<float>();
  const float* g = gradient.data_ptr<float>();
  float* m = exp_avg.data_ptr<float>();
  float* v = exp_avg_sq.data_ptr<float>();
  at::parallel_for(0, parameter.numel(), 32768, [&](std::int64_t begin, std::int64_t end) {
    adamw_update(p + begin, g + begin, m + begin, v + begin, end - begin, k);
  });
}

}  // namespace

bool FusedAdamW::takes_fused_step() const {
  for (const auto& group : param_groups_) {
    if (static_cast<const torch::optim::AdamWOptions&>(group.options()).amsgrad()) return false;
    for (const auto& parameter : group.params()) {
      const auto& gradient = parameter.grad();
      if (!gradient.defined()) continue;
      if (!fusable(parameter) || !fusable(gradient)) return false;
      // State loaded from elsewhere (another device or dtype) stays with LibTorch's step.
      const auto found = state_.find(state_key(parameter));
      if (found == state_.end()) continue;
      const auto& state = static_cast<const torch::optim::AdamWParamState&>(*found->second);
      if (!fusable(state.exp_avg()) || !fusable(state.exp_avg_sq())) return false;
    }
  }
  return true;
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
  torch::Tensor loss;
  if (closure) {  // first: the closure is what makes the gradients
    torch::AutoGradMode enable_grad(true);
    loss = closure();
  }
  if (!takes_fused_step()) {
    AdamW::step();
    return loss;
  }
  torch::NoGradGuard no_grad;
  for (auto& group : param_groups_) {
    const auto& options = static_cast<const torch::optim::AdamWOptions&>(group.options());
    for (auto& parameter : group.params()) {
      if (!parameter.grad().defined()) continue;
      // The state as LibTorch's AdamW creates it.
      auto& slot = state_[state_key(parameter)];
      if (!slot) {
        auto fresh = std::make_unique<torch::optim::AdamWParamState>();
        fresh->step(0);
        fresh->exp_avg(torch::zeros_like(parameter, torch::MemoryFormat::Preserve));
        fresh->exp_avg_sq(torch::zeros_like(parameter, torch::MemoryFormat::Preserve));
        slot = std::move(fresh);
      }
      auto& state = static_cast<torch::optim::AdamWParamState&>(*slot);
      state.step(state.step() + 1);
      update(parameter, parameter.grad(), state.exp_avg(), state.exp_avg_sq(), options,
             state.step());
      mark_modified({&parameter, &state.exp_avg(), &state.exp_avg_sq()});
    }
  }
  return loss;
}

AdamWSettings adamw_settings(const config::Config& config) {
  return {config.get_float("train.lr"), config.get_float("train.beta1"),
          config.get_float("train.beta2"), config.get_float("train.eps"),
          config.get_float("train.weight_decay")};
}

FusedAdamW make_optimizer(model::TransformerImpl& model, const AdamWSettings& settings) {
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
  return FusedAdamW(groups, options);
}

void set_learning_rate(torch::optim::AdamW& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
  }
}

}  // namespace attnlab::train
