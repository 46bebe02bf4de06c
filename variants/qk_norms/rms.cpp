// QK-norm with RMSNorm (Wortsman et al. 2023, "Small-scale proxies for large-scale Transformer
// training instabilities"; as in OLMo 2 and Gemma 3): q and k of each head are divided by their
// root mean square over the head dimension and multiplied by a learned scale, one per dimension for
// q and one for k, shared by the heads. Bounded logits keep attention from collapsing to one-hot at
// high learning rates.
//
// B = batch, H = heads, G = key/value heads, T = length, D = head dim.
#include "variants/parts.h"

namespace attnlab::variants {
namespace {

constexpr double kEpsilon = 1e-6;

class RmsQueryKeyNorm : public QueryKeyNorm {
 public:
  explicit RmsQueryKeyNorm(const AttentionSite& site) {
    query_scale_ = register_parameter("query_scale", torch::ones({site.head_dim}));  // [D]
    key_scale_ = register_parameter("key_scale", torch::ones({site.head_dim}));      // [D]
  }

  std::pair<torch::Tensor, torch::Tensor> normalise(const torch::Tensor& q,
                                                    const torch::Tensor& k) override {
    auto rms_norm = [](const torch::Tensor& x, const torch::Tensor& scale) {
      return x * torch::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + kEpsilon) * scale;
    };
    return {rms_norm(q, query_scale_), rms_norm(k, key_scale_)};  // [B,H,Tq,D], [B,G,Tk,D]
  }

  std::pair<torch::Tensor, torch::Tensor> reference_normalise(
      const torch::Tensor& q, const torch::Tensor& k) const override {
    // x_d g_d / sqrt((1/D) sum_e x_e^2 + eps)
    auto reference = [](const torch::Tensor& x, const torch::Tensor& scale) {
      const double dims = static_cast<double>(x.size(-1));
      auto root_mean_square = torch::sqrt((x * x).sum(-1, /*keepdim=*/true) / dims + kEpsilon);
      return x / root_mean_square * scale.to(torch::kDouble);
    };
    return {reference(q, query_scale_), reference(k, key_scale_)};
  }

 private:
  torch::Tensor query_scale_, key_scale_;
};

}  // namespace

ATTNLAB_REGISTER(qk_norm_registry(),
                 {"rms", "RMSNorm of q and k per head, learned scale (Wortsman et al. 2023)", {},
                  {}, {},
                  [](const VariantOptions&, const AttentionSite& site) {
                    return std::make_shared<RmsQueryKeyNorm>(site);
                  }});

}  // namespace attnlab::variants
