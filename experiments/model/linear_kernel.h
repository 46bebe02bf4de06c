// y = x W^T + b for the model's dense layers, with oneDNN's sgemm (base/sgemm.h says why) on
// the CPU in fp32, except for the weight gradient of large layers (below). Elsewhere (another
// device or dtype, autocast on) the layer runs LibTorch's own linear.
//
// N = rows (batch x positions), I = input features, O = output features.
#pragma once

#include <torch/nn/modules/linear.h>

namespace attnlab::model {

// The weight gradient dY^T X reduces over every row of the batch (4096 in the benchmark presets).
// oneDNN's sgemm runs that transposed, deep product at about half speed once the weight has this
// many entries (measured with 4096 rows and 2 threads: 1024x256 weights at 70-90 GFLOP/s against
// OpenBLAS's 125-145; 768x256 at 100-120 against 130-140), while it stays level or ahead on
// smaller weights. Weights this large take LibTorch's mm, which calls OpenBLAS (scripts/setup.sh
// installs it as the system BLAS).
constexpr std::int64_t kLargeWeight = 128 * 1024;

// x [..., I] -> [..., O] with the layer's weight [O,I] and bias [O]; differentiable in x, weight
// and bias. A layer without bias runs LibTorch's linear.
torch::Tensor apply_linear(const torch::nn::Linear& layer, const torch::Tensor& x);

}  // namespace attnlab::model
