// T5 relative position bias (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a
// Unified Text-to-Text Transformer"): a learned scalar per head and bucket of the relative
// distance j - i is added to the scores. Distances below half the buckets each get their own
// bucket; longer ones share logarithmically wider buckets up to variant.t5_max_distance, beyond
// which all fall in the last. Bidirectional attention (and cross-attention) spends half the
// buckets on each direction. Unlike T5, which shares one table across its layers, every
// attention layer learns its own.
//
// H = heads, Nq = queries, L = keys, Tq = query length, Tk = key length.
#include <cmath>

#include "variants/parts.h"

namespace attnlab::variants {
namespace {

// T5's _relative_position_bucket for one distance j - i, transcribed from its definition.
std::int64_t bucket_of(std::int64_t relative, bool bidirectional, std::int64_t buckets,
                       std::int64_t max_distance) {
  std::int64_t bucket = 0;
  std::int64_t n = -relative;
  if (bidirectional) {
    buckets /= 2;
    if (n < 0) bucket += buckets;
    n = std::abs(n);
  } else {
    n = std::max<std::int64_t>(n, 0);
  }
  const std::int64_t max_exact = buckets / 2;
  if (n < max_exact) return bucket + n;
  const double scaled = std::log(static_cast<double>(n) / max_exact) /
                        std::log(static_cast<double>(max_distance) / max_exact) *
                        static_cast<double>(buckets - max_exact);
  return bucket + std::min(max_exact + static_cast<std::int64_t>(scaled), buckets - 1);
}

class T5Position : public Position {
 public:
  T5Position(const AttentionSite& site, std::int64_t buckets, std::int64_t max_distance)
      : bidirectional_(!site.causal),
        buckets_(buckets),
        max_distance_(max_distance) {
    // T5 draws its table from N(0, 1/d_model).
    const double std = 1.0 / std::sqrt(static_cast<double>(site.heads * site.head_dim));
    table_ = register_parameter("table", torch::randn({buckets, site.heads}) * std);  // [K,H]
  }

  bool adds_bias() const override { return true; }

  torch::Tensor bias_at(const torch::Tensor& query_positions, const torch::Tensor& key_positions,
                        const torch::TensorOptions& options) override {
    const auto relative =
        key_positions.unsqueeze(-2) - query_positions.view({1, -1, 1});  // [1|H,Nq,L]
    const auto bucket = buckets(relative.to(table_.device()));
    // [1|H,Nq,L,H] -> per head h its own column; a per-head key table keeps head h's keys.
    const auto values = table_.to(options.dtype()).index({bucket});  // [1|H,Nq,L,H]
    if (relative.size(0) == 1) return values.squeeze(0).permute({2, 0, 1});  // [H,Nq,L]
    return values.diagonal(0, 0, 3).permute({2, 0, 1});  // [H,Nq,L]
  }

  torch::Tensor reference_bias(std::int64_t query_length, std::int64_t key_length) const override {
    auto bucket = torch::empty({query_length, key_length}, torch::kLong);
    auto cells = bucket.accessor<std::int64_t, 2>();
    for (std::int64_t i = 0; i < query_length; ++i) {
      const std::int64_t position = i + key_length - query_length;
      for (std::int64_t j = 0; j < key_length; ++j) {
        cells[i][j] = bucket_of(j - position, bidirectional_, buckets_, max_distance_);
      }
    }
    return table_.to(torch::kDouble).index({bucket}).permute({2, 0, 1});  // [H,Tq,Tk]
  }

 private:
  // The same bucketing in tensor form: relative (int64, any shape) -> bucket (int64).
  torch::Tensor buckets(const torch::Tensor& relative) const {
    std::int64_t buckets = buckets_;
    auto n = -relative;
    auto bucket = torch::zeros_like(relative);
    if (bidirectional_) {
      buckets /= 2;
      bucket = bucket + n.lt(0).to(torch::kLong) * buckets;
      n = n.abs();
    } else {
      n = n.clamp_min(0);
    }
    const std::int64_t max_exact = buckets / 2;
    // n >= 1 inside the log: the branch is only taken for n >= max_exact.
    const auto large = (torch::log(n.clamp_min(1).to(torch::kDouble) / max_exact) /
                            std::log(static_cast<double>(max_distance_) / max_exact) *
                            static_cast<double>(buckets - max_exact))
                           .to(torch::kLong)
                           .add(max_exact)
                           .clamp_max(buckets - 1);
    return bucket + torch::where(n.lt(max_exact), n, large);
  }

  bool bidirectional_;
  std::int64_t buckets_, max_distance_;
  torch::Tensor table_;  // [buckets, H]
};

}  // namespace

ATTNLAB_REGISTER(position_registry(),
                 {"t5",
                  "learned bias per head over log-bucketed relative distances (Raffel et al. 2020)",
                  {{"t5_buckets", std::int64_t{32}, "relative-distance buckets of the T5 bias",
                    /*min=*/4.0},
                   {"t5_max_distance", std::int64_t{128},
                    "distance from which the T5 bias puts every pair in the last bucket",
                    /*min=*/2.0}},
                  /*traits=*/{}, /*requires_traits=*/{"logit_scores"},
                  [](const VariantOptions& options, const AttentionSite& site) {
                    const auto buckets = options.get_int("t5_buckets");
                    const auto max_distance = options.get_int("t5_max_distance");
                    // Exact buckets cover distances below buckets / 4 (bidirectional) or / 2.
                    if (max_distance <= buckets / 2) {
                      throw VariantError("variant.t5_max_distance = " +
                                         std::to_string(max_distance) +
                                         " must exceed variant.t5_buckets / 2 = " +
                                         std::to_string(buckets / 2) +
                                         ", where the logarithmic buckets start");
                    }
                    return std::make_shared<T5Position>(site, buckets, max_distance);
                  }});

}  // namespace attnlab::variants
