// Unscaled dot-product score (Luong et al. 2015): s_ij = q_i·k_j. Its logits grow with D, so
// softmax saturates sooner than with the scaled score; that difference is what it is here to show.
#include "variants/parts.h"

namespace attnlab::variants {
namespace {

class DotScore : public Score {
 public:
  torch::Tensor scores(const torch::Tensor& q, const torch::Tensor& k) override {
    return torch::matmul(q, k.transpose(-2, -1));  // [B,H,Tq,Tk]
  }
  torch::Tensor reference_scores(const torch::Tensor& q, const torch::Tensor& k) const override {
    return torch::einsum("bhid,bhjd->bhij", {q, k});  // [B,H,Tq,Tk]
  }
  bool is_scaled_dot() const override { return true; }
  double dot_scale() const override { return 1.0; }
};

}  // namespace

ATTNLAB_REGISTER(score_registry(),
                 {"dot", "q·k, unscaled (Luong et al. 2015)", {}, {"dot_product", "logit_scores"}, {},
                  [](const VariantOptions&, const AttentionSite&) {
                    return std::make_shared<DotScore>();
                  }});

}  // namespace attnlab::variants
