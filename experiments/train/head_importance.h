// Head importance (Michel et al. 2019, "Are Sixteen Heads Really Better than One?"): multiply
// every head's output by a gate ξ_h = 1 and take I_h = mean over examples of |∂L(x)/∂ξ_h|, with
// L(x) an example's own loss (its mean over its scored targets); the absolute value is taken per
// example, before averaging, so that examples pulling a head in opposite directions do not
// cancel. Normalised within a layer by the layer's l2 norm. A head whose W_O columns are zero
// has I_h = 0.
//
// Gates of shape [B,H] (one per example and head) give every example's gradient in one backward
// pass; gating by 1 changes no value. Shared by the recorder (on its probe batch) and `attnlab
// ablate` (over a whole split).
//
// B = examples in a batch, H = heads of one attention layer, T = sequence length.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "experiments/model/transformer.h"
#include "experiments/tasks/task.h"

namespace attnlab::train {

// Gates ξ = 1 of shape [B,H] on every attention layer while it lives, requiring gradients; the
// layers are left without a gate afterwards.
class HeadGates {
 public:
  HeadGates(const std::vector<model::MultiHeadAttention>& layers, std::int64_t examples,
            const torch::Device& device);
  ~HeadGates();
  HeadGates(const HeadGates&) = delete;
  HeadGates& operator=(const HeadGates&) = delete;
  const std::vector<torch::Tensor>& gates() const { return gates_; }  // per layer [B,H]

 private:
  std::vector<model::MultiHeadAttention> layers_;
  std::vector<torch::Tensor> gates_;
};

// Weights that turn the gradient of a batch's loss (the mean over all its scored targets) into
// the gradients of each example's own loss: (scored targets in the batch) / (scored targets in
// b), and 0 for an example without scored targets, which has no loss. targets [B,T] or [B]
// (classification) -> [B] float64 on the CPU.
torch::Tensor example_weights(const torch::Tensor& targets);

// Per layer, the sum over the batch's examples of |∂L(x)/∂ξ_h| [H] float64 (CPU), from the
// batch's mean loss of a forward pass run with `gates` and the batch's example_weights() [B].
// Differentiates with respect to the gates only (autograd::grad): parameters' .grad stay as
// they are. A layer the loss does not depend on gets zeros.
std::vector<torch::Tensor> gate_gradient_sums(const torch::Tensor& loss, const HeadGates& gates,
                                              const torch::Tensor& weights);

// raw [H] -> raw / ||raw||_2, or zeros when the norm is 0 (Michel et al.'s per-layer
// normalisation).
torch::Tensor normalise_importance(const torch::Tensor& raw);

struct HeadImportance {
  std::vector<torch::Tensor> raw;         // per attention layer [H] float64: I_h
  std::vector<torch::Tensor> normalised;  // per attention layer [H] float64: I_h / ||I_layer||_2
  std::int64_t examples = 0;              // examples with at least one scored target
};

// I_h over the first `max_examples` examples of `split` (0: all of them), `batch_size` at a
// time, in eval mode (the training mode is restored). Layers in forward order
// (Transformer::attention_layers(), the dump's layer indices).
HeadImportance head_importance(model::Transformer& model, const tasks::Task& task,
                               tasks::Split split, std::int64_t batch_size,
                               std::int64_t max_examples, const torch::Device& device);

}  // namespace attnlab::train
