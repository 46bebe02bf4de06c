// Strided sparse attention (Child et al. 2019, "Generating Long Sequences with Sparse
// Transformers"): a query at position p sees its neighbours |p - j| <= stride and every key at a
// multiple of the stride away, (p - j) mod stride = 0 (causal: only earlier ones). With stride
// about sqrt(T) each query sees about 3 sqrt(T) keys.
//
// The chunked path computes the two parts separately, as the paper does: the neighbours as a band,
// and the strided keys by grouping queries and keys by their residue mod stride (the paper's
// "transpose"), so that each group is a small dense tile. Work grows as T x stride + T^2 / stride.
//
// Tq = query length, Tk = key length, Nq = queries in a group, L = keys in a segment.
#include <algorithm>
#include <cstdlib>

#include "variants/parts.h"

namespace attnlab::variants {
namespace {

class StridedPattern : public Pattern {
 public:
  explicit StridedPattern(std::int64_t stride) : stride_(stride) {}

  torch::Tensor allowed(std::int64_t query_length, std::int64_t key_length,
                        bool causal) const override {
    auto relative = relative_positions(query_length, key_length);  // [Tq,Tk] j - p
    auto allowed = relative.abs().le(stride_).logical_or(torch::remainder(relative, stride_).eq(0));
    if (causal) allowed = allowed.logical_and(relative.le(0));
    return allowed.unsqueeze(0);  // [1,Tq,Tk]
  }

  BlockLayout layout(std::int64_t query_length, std::int64_t key_length, bool causal,
                     std::int64_t chunk) const override {
    BlockLayout layout = band_layout(query_length, key_length, causal, /*before=*/stride_,
                                     /*after=*/stride_, chunk);
    // Same-residue keys beyond the band: queries and keys with position = r mod stride.
    const std::int64_t offset = key_length - query_length;
    for (std::int64_t residue = 0; residue < stride_; ++residue) {
      const std::int64_t first_query = ((residue - offset) % stride_ + stride_) % stride_;
      if (first_query >= query_length || residue >= key_length) continue;
      auto queries = torch::arange(first_query, query_length, stride_, torch::kLong);  // [n]
      auto keys = torch::arange(residue, key_length, stride_, torch::kLong);           // [m]
      for (std::int64_t q0 = 0; q0 < queries.size(0); q0 += chunk) {
        QueryBlock block;
        block.index = queries.narrow(0, q0, std::min(chunk, queries.size(0) - q0));  // [Nq]
        const auto positions = block.positions(query_length, key_length);            // [Nq]
        for (std::int64_t k0 = 0; k0 < keys.size(0); k0 += chunk) {
          KeySegment segment;
          segment.index = keys.narrow(0, k0, std::min(chunk, keys.size(0) - k0)).unsqueeze(0);
          auto relative = segment.index - positions.unsqueeze(1);  // [Nq,L] j - p
          auto allowed = relative.abs().gt(stride_);  // the band already covers the rest
          if (causal) allowed = allowed.logical_and(relative.lt(0));
          if (!allowed.any().item<bool>()) continue;
          if (!allowed.all().item<bool>()) segment.allowed = allowed.unsqueeze(0);  // [1,Nq,L]
          block.keys.push_back(std::move(segment));
        }
        if (!block.keys.empty()) layout.blocks.push_back(std::move(block));
      }
    }
    return layout;
  }

  torch::Tensor reference_allowed(std::int64_t query_length, std::int64_t key_length,
                                  bool causal) const override {
    return allowed_pairs(/*heads=*/1, query_length, key_length, causal,
                         [this](std::int64_t, std::int64_t position, std::int64_t key) {
                           const std::int64_t distance = std::abs(position - key);
                           return distance <= stride_ || distance % stride_ == 0;
                         });
  }

 private:
  std::int64_t stride_;
};

}  // namespace

ATTNLAB_REGISTER(pattern_registry(),
                 {"strided",
                  "neighbours within `stride` plus every stride-th key (Child et al. 2019)",
                  /*options=*/
                  {{"stride", std::int64_t{16},
                    "strided: neighbourhood radius and step of the strided keys (about sqrt(T))",
                    /*min=*/1.0}},
                  /*traits=*/{}, /*requires_traits=*/{},
                  [](const VariantOptions& options, const AttentionSite&) {
                    return std::make_shared<StridedPattern>(options.get_int("stride"));
                  }});

}  // namespace attnlab::variants
