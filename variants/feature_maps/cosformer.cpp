// cosFormer (Qin et al. 2022, "cosFormer: Rethinking Softmax in Attention"): ReLU features
// re-weighted by position, φ(x_p) = [relu(x_p) cos(π p / 2M), relu(x_p) sin(π p / 2M)] with M the
// longer of the query and key lengths (the paper's maximum length; so a pair's weight depends on
// the sequence's length, as in the paper), so that φ(q_i)·φ(k_j) = relu(q_i)·relu(k_j)
// cos(π (i - j) / 2M): nearby keys weigh more, and the product stays non-negative because
// |i - j| < M. The angles are computed in float32 (bf16 positions are exact only up to 256).
//
// B = batch, H = heads, T = length, d = input dim.
#include <cmath>

#include "variants/parts.h"

namespace attnlab::variants {
namespace {

class CosformerFeatureMap : public FeatureMap {
 public:
  torch::Tensor features(const torch::Tensor& x, Side, const torch::Tensor& positions,
                         std::int64_t length) override {
    const auto angle_type = x.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
    const auto angle = positions.to(angle_type) * (M_PI / (2.0 * static_cast<double>(length)));
    const auto weights = angle.view({1, 1, -1, 1});  // [1,1,T,1]
    const auto features = torch::relu(x);
    return torch::cat({features * torch::cos(weights).to(x.scalar_type()),
                       features * torch::sin(weights).to(x.scalar_type())},
                      -1);  // [B,H,T,2d]
  }
  torch::Tensor reference_features(const torch::Tensor& x, Side, const torch::Tensor& positions,
                                   std::int64_t length) const override {
    const auto features = torch::where(x > 0, x, torch::zeros_like(x));
    auto angle = positions.to(torch::kDouble) * M_PI / (2.0 * static_cast<double>(length));
    angle = angle.unsqueeze(-1);  // [T,1]
    return torch::cat({features * angle.cos(), features * angle.sin()}, -1);
  }
  std::int64_t feature_dim(std::int64_t input_dim) const override { return 2 * input_dim; }
};

}  // namespace

ATTNLAB_REGISTER(feature_map_registry(),
                 {"cosformer",
                  "relu(x) re-weighted by cos and sin of π p / 2M, M the sequence length "
                  "(Qin et al. 2022)",
                  {}, {}, {},
                  [](const VariantOptions&, const AttentionSite&) {
                    return std::make_shared<CosformerFeatureMap>();
                  }});

}  // namespace attnlab::variants
