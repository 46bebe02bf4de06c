// φ(x) = elu(x) + 1 (Katharopoulos et al. 2020, "Transformers are RNNs"): positive features of the
// same dimension as x, so that φ(q)·φ(k) > 0 and every row of the map is a distribution.
//
// B = batch, H = heads, T = length, d = input dim.
#include <torch/nn/functional/activation.h>

#include "variants/parts.h"

namespace attnlab::variants {
namespace {

class Elu1FeatureMap : public FeatureMap {
 public:
  torch::Tensor features(const torch::Tensor& x, Side, const torch::Tensor&,
                         std::int64_t) override {
    return torch::elu(x) + 1.0;  // [B,H,T,d]
  }
  torch::Tensor reference_features(const torch::Tensor& x, Side, const torch::Tensor&,
                                   std::int64_t) const override {
    return torch::where(x > 0, x + 1.0, torch::exp(x));  // elu(x) + 1 case by case
  }
  std::int64_t feature_dim(std::int64_t input_dim) const override { return input_dim; }
};

}  // namespace

ATTNLAB_REGISTER(feature_map_registry(),
                 {"elu1", "elu(x) + 1 (Katharopoulos et al. 2020)", {}, {}, {},
                  [](const VariantOptions&, const AttentionSite&) {
                    return std::make_shared<Elu1FeatureMap>();
                  }});

}  // namespace attnlab::variants
