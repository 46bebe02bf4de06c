#include "experiments/train/train_step.h"

#include <limits>

#include <torch/nn/utils/clip_grad.h>

#include "experiments/train/objective.h"

namespace attnlab::train {

torch::Tensor forward_backward(model::Transformer& model, const tasks::Batch& batch,
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
  return torch::stack({result.loss_sum.to(torch::kDouble), result.scored.to(torch::kDouble),
                       result.correct.to(torch::kDouble),
                       result.sequences_correct.to(torch::kDouble),
                       result.sequences.to(torch::kDouble)})
      .cpu();
}

}  // namespace attnlab::train

namespace attnlab::train {

double clip_gradient_norm(model::TransformerImpl& model, double max_norm) {
  return torch::nn::utils::clip_grad_norm_(
      model.parameters(), max_norm > 0.0 ? max_norm : std::numeric_limits<double>::infinity());
}

}  // namespace attnlab::train
