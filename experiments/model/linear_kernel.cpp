#include "experiments/model/linear_kernel.h"

#include <torch/autograd.h>

#include "base/sgemm.h"
#include "base/torch_compat.h"

namespace attnlab::model {
namespace {

class LinearFunction : public torch::autograd::Function<LinearFunction> {
 public:
  // x [N,I] contiguous, weight [O,I] contiguous, bias [O] -> [N,O]
  static torch::Tensor forward(torch::autograd::AutogradContext* context, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias) {
    const auto rows = x.size(0), inputs = x.size(1), outputs = weight.size(0);
    // The product accumulates onto a copy of the bias. A fresh tensor, not expand().contiguous():
    // with one row that would be the bias itself, and the product would be added to the weights.
    auto y = torch::empty({rows, outputs}, x.options());
    y.copy_(bias.expand({rows, outputs}));
    attnlab::sgemm(false, true, rows, outputs, inputs, 1.0F, x.data_ptr<float>(), inputs,
                    weight.data_ptr<float>(), inputs, 1.0F, y.data_ptr<float>(), outputs);
    context->save_for_backward({x, weight});
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* context,
                                               torch::autograd::tensor_list grad_outputs) {
    const auto saved = context->get_saved_variables();
    const auto& x = saved[0];
    const auto& weight = saved[1];
    const auto grad_y = grad_outputs[0].contiguous();  // [N,O]
    const auto rows = x.size(0), inputs = x.size(1), outputs = weight.size(0);
    torch::Tensor grad_x, grad_weight, grad_bias;
    if (context->needs_input_grad(0)) {
      grad_x = torch::empty({rows, inputs}, x.options());  // dY W
      attnlab::sgemm(false, false, rows, inputs, outputs, 1.0F, grad_y.data_ptr<float>(), outputs,
                      weight.data_ptr<float>(), inputs, 0.0F, grad_x.data_ptr<float>(), inputs);
    }
    if (context->needs_input_grad(1)) {
      grad_weight = torch::empty({outputs, inputs}, x.options());  // dY^T X
      if (outputs * inputs >= kLargeWeight) {
        torch::mm_out(grad_weight, grad_y.t(), x);
      } else {
        attnlab::sgemm(true, false, outputs, inputs, rows, 1.0F, grad_y.data_ptr<float>(),
                        outputs, x.data_ptr<float>(), inputs, 0.0F, grad_weight.data_ptr<float>(),
                        inputs);
      }
    }
    if (context->needs_input_grad(2)) {
      grad_bias = grad_y.sum(0);
    }
    return {grad_x, grad_weight, grad_bias};
  }
};

bool takes_fast_path(const torch::Tensor& x, const torch::Tensor& weight) {
  return x.device().is_cpu() && x.scalar_type() == torch::kFloat &&
         weight.scalar_type() == torch::kFloat && !compat::autocast_enabled(at::kCPU) &&
         x.numel() > 0;
}

}  // namespace

torch::Tensor apply_linear(const torch::nn::Linear& layer, const torch::Tensor& x) {
  const auto& weight = layer->weight;
  const auto& bias = layer->bias;
  if (!takes_fast_path(x, weight) || !bias.defined()) return torch::linear(x, weight, bias);
  auto shape = x.sizes().vec();
  const auto flat = x.reshape({-1, shape.back()}).contiguous();
  auto y = LinearFunction::apply(flat, weight.contiguous(), bias);
  shape.back() = weight.size(0);
  return y.view(shape);
}

}  // namespace attnlab::model
