// Head-wise output gate (Qiu et al. 2025, "Gated Attention for Large Language Models"): each head's
// output is multiplied by one scalar sigmoid(x W_h + b_h) of the layer's input at that position,
// W [C -> H]. A head can switch itself off for a token, which removes the need for attention sinks.
//
// B = batch, H = heads, T = query length, D = head dim, C = d_model.
#include "variants/parts.h"

#include <torch/nn/modules/linear.h>

namespace attnlab::variants {
namespace {

class HeadGate : public OutputGate {
 public:
  explicit HeadGate(const AttentionSite& site) {
    projection_ = register_module("projection", torch::nn::Linear(site.d_model, site.heads));
  }

  torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& out) override {
    TORCH_CHECK(x.defined(), "variant.gate = 'head' needs the layer input");
    const auto gate = torch::sigmoid(projection_(x.to(out.dtype())));  // [B,T,H]
    return out * gate.transpose(1, 2).unsqueeze(-1);                  // [B,H,T,D]
  }
  torch::Tensor reference_apply(const torch::Tensor& x, const torch::Tensor& out) const override {
    const auto weight = projection_->weight.to(torch::kDouble);  // [H,C]
    const auto bias = projection_->bias.to(torch::kDouble);      // [H]
    const auto logits = torch::einsum("btc,hc->bht", {x, weight}) + bias.view({1, -1, 1});
    return out * (1.0 / (1.0 + torch::exp(-logits))).unsqueeze(-1);
  }
  bool uses_input() const override { return true; }

 private:
  torch::nn::Linear projection_{nullptr};
};

}  // namespace

ATTNLAB_REGISTER(gate_registry(),
                 {"head", "one sigmoid gate per head from the layer input (Qiu et al. 2025)", {},
                  {}, {},
                  [](const VariantOptions&, const AttentionSite& site) {
                    return std::make_shared<HeadGate>(site);
                  }});

}  // namespace attnlab::variants
