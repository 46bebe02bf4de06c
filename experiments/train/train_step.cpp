#include "experiments/train/train_step.h"

#include <cmath>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "experiments/train/objective.h"

namespace attnlab::train {

StepSums forward_backward(model::Transformer& model, const tasks::Batch& batch,
                          const torch::Device& device, std::int64_t micro_batches,
                          Precision precision) {
  torch::Tensor logits;
  {
    AutocastScope autocast(precision, device);
    logits = model->forward(batch.inputs.to(device), /*tap=*/nullptr,
                            batch.source.defined() ? batch.source.to(device) : batch.source);
  }
  // The objective runs in fp32 whatever the precision: softmax over the vocabulary and the loss
  // are where bf16's 8 bits of mantissa would show.
  const auto result = objective(logits.to(torch::kFloat), batch.targets.to(device));
  (micro_batches == 1 ? result.loss : result.loss / static_cast<double>(micro_batches)).backward();
  const auto sums = torch::stack({result.loss_sum.to(torch::kDouble),
                                  result.scored.to(torch::kDouble),
                                  result.correct.to(torch::kDouble),
                                  result.sequences_correct.to(torch::kDouble),
                                  result.sequences.to(torch::kDouble)})
                        .cpu();
  const auto values = sums.accessor<double, 1>();
  return {values[0], values[1], values[2], values[3], values[4]};
}

double clip_gradient_norm(model::TransformerImpl& model, double max_norm) {
  // As LibTorch's clip_grad_norm_ (2-norm of the per-parameter 2-norms, coefficient
  // max / (norm + 1e-6) when below 1), except that gradients are left alone when the norm is not
  // finite: clip_grad_norm_ would multiply them all by NaN and hide the parameter that diverged.
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> norms;
  std::vector<torch::Tensor> gradients;
  for (const auto& parameter : model.parameters()) {
    if (!parameter.grad().defined()) continue;
    gradients.push_back(parameter.grad());
    norms.push_back(parameter.grad().norm(2));
  }
  if (norms.empty()) return 0.0;
  const double norm = torch::stack(norms).norm(2).item<double>();
  const double coefficient = max_norm / (norm + 1e-6);
  if (std::isfinite(norm) && max_norm > 0.0 && coefficient < 1.0) {
    for (auto& gradient : gradients) gradient.mul_(coefficient);
  }
  return norm;
}

}  // namespace attnlab::train
