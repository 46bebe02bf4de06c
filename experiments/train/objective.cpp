#include "experiments/train/objective.h"

#include <torch/nn/functional/loss.h>
#include <torch/utils.h>

#include "experiments/tasks/task.h"

namespace attnlab::train {

ObjectiveResult objective(const torch::Tensor& logits, const torch::Tensor& targets) {
  const auto classes = logits.size(-1);
  // Per-sequence classification is the T = 1 case of per-token prediction.
  const auto per_token_targets = targets.dim() == 1 ? targets.unsqueeze(1) : targets;   // [B,T]
  const auto per_token_logits = logits.dim() == 2 ? logits.unsqueeze(1) : logits;       // [B,T,V]
  const auto flat_logits = per_token_logits.reshape({-1, classes});
  const auto flat_targets = per_token_targets.reshape({-1});
  auto losses = torch::nn::functional::cross_entropy(
      flat_logits, flat_targets,
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(tasks::kIgnore).reduction(
          torch::kSum));
  const auto mask = per_token_targets.ne(tasks::kIgnore);  // [B,T]
  const auto scored = mask.sum();
  ObjectiveResult result;
  result.loss = losses / scored.clamp_min(1);
  result.loss_sum = losses.detach();
  torch::NoGradGuard no_grad;
  const auto right = per_token_logits.argmax(-1).eq(per_token_targets).logical_and(mask);  // [B,T]
  result.correct = right.sum();
  result.scored = scored;
  const auto has_scored = mask.any(/*dim=*/1);
  const auto all_right = right.logical_or(mask.logical_not()).all(/*dim=*/1);
  result.sequences_correct = all_right.logical_and(has_scored).sum();
  result.sequences = has_scored.sum();
  return result;
}

}  // namespace attnlab::train
