// Sliding-window attention (Beltagy et al. 2020; Mistral's one-sided window): a query at position
// p sees keys j with |p - j| <= window (two-sided), or p - window <= j <= p (one-sided). Causal
// attention is always one-sided. The chunked path visits only the band, so its time and memory
// grow as T x window.
#include <cstdlib>

#include "variants/parts.h"

namespace attnlab::variants {
namespace {

class LocalPattern : public Pattern {
 public:
  LocalPattern(std::int64_t window, bool two_sided) : window_(window), two_sided_(two_sided) {}

  torch::Tensor allowed(std::int64_t query_length, std::int64_t key_length,
                        bool causal) const override {
    auto relative = relative_positions(query_length, key_length);  // [Tq,Tk] j - p
    const std::int64_t after = causal || !two_sided_ ? 0 : window_;
    return relative.ge(-window_).logical_and(relative.le(after)).unsqueeze(0);  // [1,Tq,Tk]
  }

  BlockLayout layout(std::int64_t query_length, std::int64_t key_length, bool causal,
                     std::int64_t chunk) const override {
    return band_layout(query_length, key_length, causal, /*before=*/window_,
                       /*after=*/two_sided_ ? window_ : 0, chunk);
  }

  torch::Tensor reference_allowed(std::int64_t query_length, std::int64_t key_length,
                                  bool causal) const override {
    return allowed_pairs(/*heads=*/1, query_length, key_length, causal,
                         [this](std::int64_t, std::int64_t position, std::int64_t key) {
                           const std::int64_t behind = position - key;
                           return two_sided_ ? std::abs(behind) <= window_
                                             : behind >= 0 && behind <= window_;
                         });
  }

 private:
  std::int64_t window_;
  bool two_sided_;
};

}  // namespace

ATTNLAB_REGISTER(pattern_registry(),
                 {"local", "keys within `window` positions of the query (sliding window)",
                  /*options=*/
                  {{"window", std::int64_t{32},
                    "local: a query sees keys at most this many positions away", /*min=*/1.0},
                   {"window_sides", std::string("two"),
                    "local: two = keys before and after the query; one = only earlier keys "
                    "(causal attention is always one-sided)",
                    {}, false, {}, {"two", "one"}}},
                  /*traits=*/{}, /*requires_traits=*/{},
                  [](const VariantOptions& options, const AttentionSite&) {
                    return std::make_shared<LocalPattern>(
                        options.get_int("window"), options.get_string("window_sides") == "two");
                  }});

}  // namespace attnlab::variants
