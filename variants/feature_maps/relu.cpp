// φ(x) = relu(x): non-negative features of the same dimension as x. A query whose features are all
// zero attends to nothing (its row of the map is 0, its output 0).
//
// B = batch, H = heads, T = length, d = input dim.
#include "variants/parts.h"

namespace attnlab::variants {
namespace {

class ReluFeatureMap : public FeatureMap {
 public:
  torch::Tensor features(const torch::Tensor& x, Side, const torch::Tensor&,
                         std::int64_t) override {
    return torch::relu(x);  // [B,H,T,d]
  }
  torch::Tensor reference_features(const torch::Tensor& x, Side, const torch::Tensor&,
                                   std::int64_t) const override {
    return torch::where(x > 0, x, torch::zeros_like(x));
  }
  std::int64_t feature_dim(std::int64_t input_dim) const override { return input_dim; }
};

}  // namespace

ATTNLAB_REGISTER(feature_map_registry(),
                 {"relu", "relu(x)", {}, {}, {},
                  [](const VariantOptions&, const AttentionSite&) {
                    return std::make_shared<ReluFeatureMap>();
                  }});

}  // namespace attnlab::variants
