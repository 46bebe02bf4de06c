// The training objective and its counts: cross-entropy over scored targets (kIgnore skipped),
// token accuracy and whole-sequence accuracy. Counts stay tensors so no step forces a host sync.
//
// B = batch, T = sequence length, V = vocabulary (or classes).
#pragma once

#include <torch/types.h>

namespace attnlab::train {

struct ObjectiveResult {
  torch::Tensor loss;              // scalar mean over scored targets (differentiable)
  torch::Tensor loss_sum;          // scalar sum over scored targets (detached)
  torch::Tensor correct;           // scalar int64: scored targets predicted right
  torch::Tensor scored;            // scalar int64: scored targets
  torch::Tensor sequences_correct; // scalar int64: sequences with every scored target right
  torch::Tensor sequences;         // scalar int64: sequences with at least one scored target
};

// logits [B,T,V] with targets [B,T], or logits [B,V] with targets [B] (classification).
ObjectiveResult objective(const torch::Tensor& logits, const torch::Tensor& targets);

}  // namespace attnlab::train
