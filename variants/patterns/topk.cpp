// Top-k attention (Gupta et al. 2021; Zhao et al. 2019's explicit sparse transformer): each query
// keeps only its k largest allowed scores (all allowed ones when it has fewer). Scores tied with
// the k-th largest are all kept. The chunked path streams the scores twice: once to find each
// query's k-th largest score, once to attend; memory stays T x k, the work is that of full
// attention.
#include <algorithm>
#include <limits>

#include "variants/parts.h"

namespace attnlab::variants {
namespace {

class TopKPattern : public Pattern {
 public:
  explicit TopKPattern(std::int64_t keep) : keep_(keep) {}

  torch::Tensor allowed(std::int64_t query_length, std::int64_t key_length,
                        bool causal) const override {
    if (!causal) return {};
    return causal_allowed(query_length, key_length).unsqueeze(0);  // [1,Tq,Tk]
  }

  torch::Tensor restrict_scores(const torch::Tensor& scores) const override {
    const std::int64_t keep = std::min(keep_, scores.size(-1));
    // The k-th largest score per query; masked keys are -inf and never pass a finite threshold.
    auto threshold = std::get<0>(scores.detach().topk(keep, /*dim=*/-1))
                         .narrow(-1, keep - 1, 1);  // [B,H,Tq,1]
    return scores.masked_fill(scores < threshold, -std::numeric_limits<double>::infinity());
  }
  bool depends_on_scores() const override { return true; }
  std::int64_t keep_largest() const override { return keep_; }

  BlockLayout layout(std::int64_t query_length, std::int64_t key_length, bool causal,
                     std::int64_t chunk) const override {
    return dense_layout(query_length, key_length, causal, chunk);
  }

  torch::Tensor reference_allowed(std::int64_t query_length, std::int64_t key_length,
                                  bool causal) const override {
    return allowed_pairs(/*heads=*/1, query_length, key_length, causal);
  }
  // The threshold from a full descending sort instead of topk().
  torch::Tensor reference_restrict_scores(const torch::Tensor& scores) const override {
    const std::int64_t keep = std::min(keep_, scores.size(-1));
    auto sorted = std::get<0>(scores.sort(/*dim=*/-1, /*descending=*/true));
    return scores.masked_fill(scores < sorted.narrow(-1, keep - 1, 1),
                              -std::numeric_limits<double>::infinity());  // [B,H,Tq,Tk]
  }

 private:
  std::int64_t keep_;
};

}  // namespace

ATTNLAB_REGISTER(pattern_registry(),
                 {"topk", "each query keeps its `topk` largest scores (causal: among earlier keys)",
                  /*options=*/
                  {{"topk", std::int64_t{8}, "topk: scores kept per query", /*min=*/1.0}},
                  // Keeping the k largest scores is a sparse softmax: it assumes rows that share
                  // one budget of mass, which sigmoid's independent weights do not.
                  /*traits=*/{}, /*requires_traits=*/{"softmax"},
                  [](const VariantOptions& options, const AttentionSite&) {
                    return std::make_shared<TopKPattern>(options.get_int("topk"));
                  }});

}  // namespace attnlab::variants
