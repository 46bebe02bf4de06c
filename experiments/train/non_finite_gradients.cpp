#include "experiments/train/non_finite_gradients.h"

#include <cmath>

#include <fmt/format.h>

#include "experiments/train/checkpoint.h"

namespace attnlab::train {

std::string describe_non_finite_step(const model::TransformerImpl& model, std::int64_t step,
                                     double grad_norm) {
  std::string first = "?";
  for (const auto& named : model.named_parameters()) {
    const auto& grad = named.value().grad();
    if (grad.defined() && !torch::isfinite(grad).all().item<bool>()) {
      first = named.key();
      break;
    }
  }
  const auto norm = std::isnan(grad_norm) ? std::string("nan") : fmt::format("{}", grad_norm);
  return fmt::format("step {}: gradient norm is {} (first parameter with a non-finite gradient: "
                     "{})",
                     step, norm, first);
}

void stop_on_non_finite(const model::TransformerImpl& model,
                        const std::filesystem::path& checkpoints, std::int64_t step,
                        double grad_norm, std::int64_t skipped) {
  const auto written = step_checkpoints(checkpoints);
  throw NonFiniteGradients(fmt::format(
      "{}; training stopped before the update{}. {}",
      describe_non_finite_step(model, step, grad_norm),
      skipped > 0 ? fmt::format(", after skipping {} such step(s) (train.skip_nonfinite)", skipped)
                  : std::string(),
      written.empty() ? std::string("No checkpoint was written yet.")
                      : "The newest checkpoint is kept: " + written.front().string()));
}

}  // namespace attnlab::train
