// Softmax (Bahdanau et al. 2015; Vaswani et al. 2017): A_ij = exp(s_ij) / sum_l exp(s_il) over the
// allowed keys; each row is a distribution.
//
// B = batch, H = heads, Tq = query length, Tk = key length.
#include <limits>

#include "variants/parts.h"

namespace attnlab::variants {
namespace {

class SoftmaxNormaliser : public Normaliser {
 public:
  torch::Tensor normalise(const torch::Tensor& scores) override {
    auto map = torch::softmax(scores, /*dim=*/-1);  // [B,H,Tq,Tk]
    // A query with no allowed key (possible in some sparse cross layouts) attends to nothing
    // instead of producing NaN; its row's max is -inf.
    const auto empty =
        scores.amax(-1, /*keepdim=*/true).eq(-std::numeric_limits<double>::infinity());
    return map.masked_fill(empty, 0.0);
  }
  torch::Tensor reference_normalise(const torch::Tensor& scores) const override {
    auto weights = torch::exp(scores - std::get<0>(scores.max(-1, /*keepdim=*/true)));
    return (weights / weights.sum(-1, /*keepdim=*/true)).nan_to_num(0.0);  // [B,H,Tq,Tk]
  }
  MapKind map_kind() const override { return MapKind::Distribution; }
  bool is_softmax() const override { return true; }
};

}  // namespace

ATTNLAB_REGISTER(normaliser_registry(),
                 {"softmax", "softmax over the allowed keys: rows are distributions", {},
                  {"softmax"}, {"logit_scores"},
                  [](const VariantOptions&, const AttentionSite&) {
                    return std::make_shared<SoftmaxNormaliser>();
                  }});

}  // namespace attnlab::variants
