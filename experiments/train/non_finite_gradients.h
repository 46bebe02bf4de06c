// What the trainer says when a step's gradients are not finite (a diverged run): the step, the
// first parameter whose gradient is not finite, and where the run can be resumed from.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "experiments/model/transformer.h"

namespace attnlab::train {

// Training stopped because a step's gradients were not finite. Nothing of that step reached the
// weights or a checkpoint; the message names the step, the first parameter with a non-finite
// gradient and the newest checkpoint, from which the run can be resumed (with, say, a lower
// learning rate in a copy of its config).
class NonFiniteGradients : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "step 12: gradient norm is nan (first parameter with a non-finite gradient: blocks.0.w)".
std::string describe_non_finite_step(const model::TransformerImpl& model, std::int64_t step,
                                     double grad_norm);

// Throws NonFiniteGradients for `step`, after `skipped` steps skipped (train.skip_nonfinite),
// naming the newest checkpoint in `checkpoints`.
[[noreturn]] void stop_on_non_finite(const model::TransformerImpl& model,
                                     const std::filesystem::path& checkpoints, std::int64_t step,
                                     double grad_norm, std::int64_t skipped);

}  // namespace attnlab::train
