// Every key is visible (only causality, when set, hides later keys).
#include "variants/parts.h"

namespace attnlab::variants {
namespace {

class FullPattern : public Pattern {
 public:
  torch::Tensor allowed(std::int64_t query_length, std::int64_t key_length,
                        bool causal) const override {
    if (!causal) return {};  // nothing masked: skip the mask entirely
    return causal_allowed(query_length, key_length).unsqueeze(0);  // [1,Tq,Tk]
  }
  bool is_full() const override { return true; }
  BlockLayout layout(std::int64_t query_length, std::int64_t key_length, bool causal,
                     std::int64_t chunk) const override {
    return dense_layout(query_length, key_length, causal, chunk);
  }

  torch::Tensor reference_allowed(std::int64_t query_length, std::int64_t key_length,
                                  bool causal) const override {
    return allowed_pairs(/*heads=*/1, query_length, key_length, causal);
  }
};

}  // namespace

ATTNLAB_REGISTER(pattern_registry(),
                 {"full", "all keys (causal: all earlier keys and itself)", {}, {}, {},
                  [](const VariantOptions&, const AttentionSite&) {
                    return std::make_shared<FullPattern>();
                  }});

}  // namespace attnlab::variants
