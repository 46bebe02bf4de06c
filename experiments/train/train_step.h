// The part of a training step that `attnlab train` and `attnlab bench train` share, so that the
// benchmark measures the code that trains: one micro-batch's forward (under the step's precision),
// objective and backward.
#pragma once

#include "experiments/model/transformer.h"
#include "experiments/tasks/task.h"
#include "experiments/train/precision.h"
#include "experiments/train/step_sums.h"

namespace attnlab::train {

// Forward and backward of one micro-batch; the gradient of loss / `micro_batches` is added to the
// parameters' gradients. Returns the micro-batch's sums, read from the device in one copy (the
// only host sync it makes on an accelerator).
StepSums forward_backward(model::Transformer& model, const tasks::Batch& batch,
                          const torch::Device& device, std::int64_t micro_batches,
                          Precision precision);

// The global gradient norm over every parameter, with the gradients scaled down to `max_norm`
// when it is larger (max_norm <= 0: no clipping, the norm is still computed). The norm is finite
// exactly when every gradient is, which is what the trainer checks before an update.
double clip_gradient_norm(model::TransformerImpl& model, double max_norm);

}  // namespace attnlab::train
