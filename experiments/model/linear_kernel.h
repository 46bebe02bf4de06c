// y = x W^T + b for the model's dense layers, with oneDNN's sgemm (variants/sgemm.h says why) on
// the CPU in fp32. Elsewhere (another device or dtype, autocast on) the layer runs LibTorch's own
// linear.
//
// N = rows (batch x positions), I = input features, O = output features.
#pragma once

#include <torch/nn/modules/linear.h>

namespace attnlab::model {

// x [..., I] -> [..., O] with the layer's weight [O,I] and bias [O] (if any); differentiable in
// x, weight and bias.
// x [..., I] -> [..., O] with the layer's weight [O,I] and bias [O]; differentiable in x, weight
// and bias. A layer without bias runs LibTorch's linear.
torch::Tensor apply_linear(const torch::nn::Linear& layer, const torch::Tensor& x);

}  // namespace attnlab::model
