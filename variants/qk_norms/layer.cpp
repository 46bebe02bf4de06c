// QK-norm with LayerNorm (Dehghani et al. 2023, "Scaling Vision Transformers to 22 Billion
// Parameters"): q and k of each head are centred and divided by their standard deviation over the
// head dimension, then multiplied by a learned scale (no bias: a bias would add a query- or
// key-independent term to every score), one per dimension for q and one for k, shared by the heads.
//
// B = batch, H = heads, G = key/value heads, T = length, D = head dim.
#include "variants/parts.h"

namespace attnlab::variants {
namespace {

constexpr double kEpsilon = 1e-6;

class LayerQueryKeyNorm : public QueryKeyNorm {
 public:
  explicit LayerQueryKeyNorm(const AttentionSite& site) {
    query_scale_ = register_parameter("query_scale", torch::ones({site.head_dim}));  // [D]
    key_scale_ = register_parameter("key_scale", torch::ones({site.head_dim}));      // [D]
  }

  std::pair<torch::Tensor, torch::Tensor> normalise(const torch::Tensor& q,
                                                    const torch::Tensor& k) override {
    auto layer_norm = [](const torch::Tensor& x, const torch::Tensor& scale) {
      return torch::layer_norm(x, {x.size(-1)}, scale, /*bias=*/{}, kEpsilon);
    };
    return {layer_norm(q, query_scale_), layer_norm(k, key_scale_)};  // [B,H,Tq,D], [B,G,Tk,D]
  }

  std::pair<torch::Tensor, torch::Tensor> reference_normalise(
      const torch::Tensor& q, const torch::Tensor& k) const override {
    // (x_d - mean) g_d / sqrt(var + eps), var the biased variance over D
    auto reference = [](const torch::Tensor& x, const torch::Tensor& scale) {
      const double dims = static_cast<double>(x.size(-1));
      auto centred = x - x.sum(-1, /*keepdim=*/true) / dims;
      auto variance = (centred * centred).sum(-1, /*keepdim=*/true) / dims;
      return centred / torch::sqrt(variance + kEpsilon) * scale.to(torch::kDouble);
    };
    return {reference(q, query_scale_), reference(k, key_scale_)};
  }

 private:
  torch::Tensor query_scale_, key_scale_;
};

}  // namespace

ATTNLAB_REGISTER(qk_norm_registry(),
                 {"layer", "LayerNorm of q and k per head, learned scale (Dehghani et al. 2023)",
                  {}, {}, {},
                  [](const VariantOptions&, const AttentionSite& site) {
                    return std::make_shared<LayerQueryKeyNorm>(site);
                  }});

}  // namespace attnlab::variants
