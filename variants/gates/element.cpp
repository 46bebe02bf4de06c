// Element-wise output gate (Qiu et al. 2025, "Gated Attention for Large Language Models", their
// best variant G1): the attention output is multiplied element by element by sigmoid(x W + b) of
// the layer's input at that position, W [C -> H·D], before the output projection. It adds a
// non-linearity between the value and output projections and makes each head's output sparse.
//
// B = batch, H = heads, T = query length, D = head dim, C = d_model.
#include "variants/parts.h"

#include <torch/nn/modules/linear.h>

namespace attnlab::variants {
namespace {

class ElementGate : public OutputGate {
 public:
  explicit ElementGate(const AttentionSite& site) : heads_(site.heads), head_dim_(site.head_dim) {
    projection_ = register_module("projection",
                                  torch::nn::Linear(site.d_model, site.heads * site.head_dim));
  }

  torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& out) override {
    TORCH_CHECK(x.defined(), "variant.gate = 'element' needs the layer input");
    const auto batch = x.size(0), length = x.size(1);
    const auto gate = torch::sigmoid(projection_(x.to(out.dtype())))
                          .view({batch, length, heads_, head_dim_});  // [B,T,H,D]
    return out * gate.transpose(1, 2);                                 // [B,H,T,D]
  }
  torch::Tensor reference_apply(const torch::Tensor& x, const torch::Tensor& out) const override {
    const auto weight = projection_->weight.to(torch::kDouble)
                            .view({heads_, head_dim_, -1});  // [H,D,C]
    const auto bias = projection_->bias.to(torch::kDouble).view({1, heads_, 1, head_dim_});
    const auto logits = torch::einsum("btc,hdc->bhtd", {x, weight}) + bias;
    return out * (1.0 / (1.0 + torch::exp(-logits)));
  }
  bool uses_input() const override { return true; }

 private:
  std::int64_t heads_, head_dim_;
  torch::nn::Linear projection_{nullptr};
};

}  // namespace

ATTNLAB_REGISTER(gate_registry(),
                 {"element",
                  "a sigmoid gate per output element from the layer input (Qiu et al. 2025, G1)",
                  {}, {}, {},
                  [](const VariantOptions&, const AttentionSite& site) {
                    return std::make_shared<ElementGate>(site);
                  }});

}  // namespace attnlab::variants
