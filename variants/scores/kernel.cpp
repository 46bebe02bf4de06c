// Kernel score of linear attention (Katharopoulos et al. 2020): s_ij = φ(q_i)·φ(k_j) with the
// feature map φ of variant.feature_map (feature_maps/). The scores are non-negative, and the
// normaliser `linear` divides each row by its sum; because s factors through the features, the
// engine computes full-pattern attention from φ(q) and φ(k) in O(T) (linear_attention.h) and
// materialises s only for recording.
//
// B = batch, H = heads, G = key/value heads, Tq = query length, Tk = key length, d = input dim,
// F = features.
#include <algorithm>

#include "variants/parts.h"

namespace attnlab::variants {
namespace {

using Side = FeatureMap::Side;

// Query i sits at position i + Tk - Tq, key j at j; every |i - j| is below max(Tq, Tk), the
// sequence length the feature maps see (cosFormer's M).
torch::Tensor query_positions(std::int64_t query_length, std::int64_t key_length) {
  return torch::arange(key_length - query_length, key_length, torch::kLong);  // [Tq]
}

class KernelScore : public Score {
 public:
  explicit KernelScore(std::shared_ptr<FeatureMap> feature_map) : feature_map_(feature_map) {
    // Registered only when it holds state, as the engine does for its newer stages.
    if (!feature_map->parameters().empty() || !feature_map->buffers().empty()) {
      register_module("feature_map", feature_map);
    }
  }

  torch::Tensor scores(const torch::Tensor& q, const torch::Tensor& k) override {
    auto [query_features, key_features] = features(q, k);
    return torch::matmul(query_features, key_features.transpose(-2, -1));  // [B,H,Tq,Tk]
  }
  torch::Tensor reference_scores(const torch::Tensor& q, const torch::Tensor& k) const override {
    const std::int64_t query_length = q.size(2), key_length = k.size(2);
    const std::int64_t length = std::max(query_length, key_length);
    const auto query_features = feature_map_->reference_features(
        q, Side::Query, query_positions(query_length, key_length), length);
    const auto key_features = feature_map_->reference_features(
        k, Side::Key, torch::arange(key_length, torch::kLong), length);
    return torch::einsum("bhif,bhjf->bhij", {query_features, key_features});  // [B,H,Tq,Tk]
  }

  void begin_pass() override { feature_map_->begin_pass(); }
  bool is_kernel() const override { return true; }
  std::int64_t feature_dim(std::int64_t input_dim) const override {
    return feature_map_->feature_dim(input_dim);
  }
  std::pair<torch::Tensor, torch::Tensor> features(const torch::Tensor& q,
                                                   const torch::Tensor& k) override {
    const std::int64_t query_length = q.size(2), key_length = k.size(2);
    const std::int64_t length = std::max(query_length, key_length);
    const auto key_positions =
        torch::arange(key_length, torch::TensorOptions(torch::kLong).device(k.device()));
    const auto positions = query_positions(query_length, key_length).to(q.device());
    return {feature_map_->features(q, Side::Query, positions, length),      // [B,H,Tq,F]
            feature_map_->features(k, Side::Key, key_positions, length)};   // [B,G,Tk,F]
  }

 private:
  std::shared_ptr<FeatureMap> feature_map_;
};

}  // namespace

ATTNLAB_REGISTER(score_registry(),
                 {"kernel",
                  "φ(q)·φ(k) with the feature map variant.feature_map: linear attention "
                  "(Katharopoulos et al. 2020); use with variant.normaliser = linear",
                  {},
                  /*traits=*/{"non_negative_scores"},
                  /*requires_traits=*/{},
                  [](const VariantOptions& options, const AttentionSite& site) {
                    const auto& entry = feature_map_registry().at(options.get_string("feature_map"));
                    return std::make_shared<KernelScore>(entry.make(options, site));
                  }});

}  // namespace attnlab::variants
