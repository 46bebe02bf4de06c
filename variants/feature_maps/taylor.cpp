// Based's second-order Taylor feature map (Arora et al. 2024, "Simple linear attention language
// models balance the recall-throughput tradeoff"; Zoology's TaylorExp): q and k are first projected
// to variant.taylor_dim = d' dimensions (a learned matrix for each side, shared by the heads), then
//
//   φ(x) = [1, x / d'^(1/4), vec(x xᵀ) / (sqrt(2) sqrt(d'))]        F = 1 + d' + d'^2
//
// so that φ(q)·φ(k) = 1 + q·k / sqrt(d') + (q·k)^2 / (2 d'), the Taylor expansion of
// exp(q·k / sqrt(d')) to second order, positive for every q and k.
//
// B = batch, H = heads, T = length, d = input dim.
#include <cmath>

#include "variants/parts.h"

namespace attnlab::variants {
namespace {

class TaylorFeatureMap : public FeatureMap {
 public:
  TaylorFeatureMap(std::int64_t input_dim, std::int64_t projected_dim) : dim_(projected_dim) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(input_dim));
    auto draw = [&] { return torch::empty({projected_dim, input_dim}).uniform_(-bound, bound); };
    query_projection_ = register_parameter("query_projection", draw());  // [d',d]
    key_projection_ = register_parameter("key_projection", draw());      // [d',d]
  }

  torch::Tensor features(const torch::Tensor& x, Side side, const torch::Tensor&,
                         std::int64_t) override {
    const auto projected = torch::matmul(x, projection(side).t());  // [B,H,T,d']
    const double d = static_cast<double>(dim_);
    auto sizes = projected.sizes().vec();
    sizes.back() = dim_ * dim_;
    const auto squares = (projected.unsqueeze(-1) * projected.unsqueeze(-2)).reshape(sizes);
    return torch::cat({torch::ones_like(projected.narrow(-1, 0, 1)),
                       projected * std::pow(d, -0.25), squares * (1.0 / std::sqrt(2.0 * d))},
                      -1);  // [B,H,T,1+d'+d'^2]
  }

  torch::Tensor reference_features(const torch::Tensor& x, Side side, const torch::Tensor&,
                                   std::int64_t) const override {
    const auto projected =
        torch::einsum("bhtd,ed->bhte", {x, projection(side).to(torch::kDouble)});
    const double d = static_cast<double>(dim_);
    auto squares = torch::einsum("bhte,bhtf->bhtef", {projected, projected});
    squares = squares.flatten(-2) / std::sqrt(2.0) / std::sqrt(d);
    auto constant = torch::ones_like(projected).narrow(-1, 0, 1);
    return torch::cat({constant, projected / std::sqrt(std::sqrt(d)), squares}, -1);
  }

  std::int64_t feature_dim(std::int64_t) const override { return 1 + dim_ + dim_ * dim_; }

 private:
  const torch::Tensor& projection(Side side) const {
    return side == Side::Query ? query_projection_ : key_projection_;
  }
  std::int64_t dim_;
  torch::Tensor query_projection_, key_projection_;
};

}  // namespace

ATTNLAB_REGISTER(feature_map_registry(),
                 {"taylor",
                  "1 + x + x⊗x/2 over q and k projected to variant.taylor_dim dimensions "
                  "(Based; Arora et al. 2024)",
                  {{"taylor_dim", std::int64_t{16},
                    "dimension q and k are projected to before the taylor feature map "
                    "(features: 1 + d' + d'^2)",
                    /*min=*/1.0}},
                  {}, {},
                  [](const VariantOptions& options, const AttentionSite& site) {
                    return std::make_shared<TaylorFeatureMap>(site.head_dim,
                                                              options.get_int("taylor_dim"));
                  }});

}  // namespace attnlab::variants
