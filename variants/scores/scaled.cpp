// Scaled dot-product score (Vaswani et al. 2017): s_ij = q_i·k_j / sqrt(D).
#include <cmath>

#include "variants/parts.h"

namespace attnlab::variants {
namespace {

class ScaledScore : public Score {
 public:
  explicit ScaledScore(const AttentionSite& site)
      : scale_(1.0 / std::sqrt(static_cast<double>(site.head_dim))) {}

  torch::Tensor scores(const torch::Tensor& q, const torch::Tensor& k) override {
    // Scaling q (Tq x D) is cheaper than scaling the Tq x Tk product.
    return torch::matmul(q * scale_, k.transpose(-2, -1));  // [B,H,Tq,Tk]
  }
  torch::Tensor reference_scores(const torch::Tensor& q, const torch::Tensor& k) const override {
    const double head_dim = static_cast<double>(q.size(-1));
    return torch::einsum("bhid,bhjd->bhij", {q, k}) / std::sqrt(head_dim);  // [B,H,Tq,Tk]
  }
  bool is_scaled_dot() const override { return true; }
  double dot_scale() const override { return scale_; }

 private:
  double scale_;
};

}  // namespace

ATTNLAB_REGISTER(score_registry(),
                 {"scaled", "q·k / sqrt(d_head) (Vaswani et al. 2017)", {}, {"dot_product", "logit_scores"}, {},
                  [](const VariantOptions&, const AttentionSite& site) {
                    return std::make_shared<ScaledScore>(site);
                  }});

}  // namespace attnlab::variants
