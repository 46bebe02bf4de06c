// Differential attention (Ye et al. 2024, "Differential Transformer"): each head's q and k are
// split into halves of d = D/2, each pair forms its own map, and the second is subtracted:
//   A = normalise(s(Q1, K1)) - λ normalise(s(Q2, K2)),
//   λ = exp(λq1·λk1) - exp(λq2·λk2) + λ_init,   λ_init = 0.8 - 0.6 exp(-0.3 depth),
// with λq*, λk* in R^d learned per layer (initialised N(0, 0.1²)) and depth the block's index in
// its stack (from 0). The head output A·v (v keeps all D dimensions) is normalised per head with
// RMSNorm (a learned scale per dimension, shared by the heads) and multiplied by 1 - λ_init. The
// map is signed: common-mode attention cancels.
//
// B = batch, H = heads, Tq = query length, Tk = key length, D = head dim, d = D/2.
#include <cmath>

#include "variants/parts.h"

namespace attnlab::variants {
namespace {

constexpr double kEpsilon = 1e-5;

class DifferentialMixer : public Mixer {
 public:
  explicit DifferentialMixer(const AttentionSite& site)
      : half_(site.head_dim / 2),
        lambda_init_(0.8 - 0.6 * std::exp(-0.3 * static_cast<double>(site.depth))) {
    auto init = [&] { return torch::randn({half_}) * 0.1; };  // [d]
    lambda_q1_ = register_parameter("lambda_q1", init());
    lambda_k1_ = register_parameter("lambda_k1", init());
    lambda_q2_ = register_parameter("lambda_q2", init());
    lambda_k2_ = register_parameter("lambda_k2", init());
    norm_scale_ = register_parameter("norm_scale", torch::ones({site.head_dim}));  // [D]
  }

  std::int64_t score_dim(std::int64_t head_dim) const override { return head_dim / 2; }

  std::vector<std::pair<torch::Tensor, torch::Tensor>> split(
      const torch::Tensor& q, const torch::Tensor& k) const override {
    return {{q.narrow(-1, 0, half_), k.narrow(-1, 0, half_)},
            {q.narrow(-1, half_, half_), k.narrow(-1, half_, half_)}};
  }

  torch::Tensor combine(const std::vector<torch::Tensor>& maps) override {
    return maps[0] - lambda(maps[0].options()) * maps[1];  // [B,H,Tq,Tk]
  }
  torch::Tensor finish(const torch::Tensor& out) override {
    const auto scale = norm_scale_.to(out.dtype());
    const auto normalised = out * torch::rsqrt(out.pow(2).mean(-1, /*keepdim=*/true) + kEpsilon);
    return normalised * scale * (1.0 - lambda_init_);  // [B,H,Tq,D]
  }

  std::vector<std::pair<torch::Tensor, torch::Tensor>> reference_split(
      const torch::Tensor& q, const torch::Tensor& k) const override {
    // Q = [Q1 Q2], K = [K1 K2] along the head dimension.
    const auto q_halves = q.chunk(2, /*dim=*/-1), k_halves = k.chunk(2, /*dim=*/-1);
    return {{q_halves[0], k_halves[0]}, {q_halves[1], k_halves[1]}};
  }
  torch::Tensor reference_combine(const std::vector<torch::Tensor>& maps) const override {
    auto dot = [](const torch::Tensor& a, const torch::Tensor& b) {
      return (a.to(torch::kDouble) * b.to(torch::kDouble)).sum();
    };
    const auto lambda = torch::exp(dot(lambda_q1_, lambda_k1_)) -
                        torch::exp(dot(lambda_q2_, lambda_k2_)) + lambda_init_;
    return maps[0] - lambda * maps[1];
  }
  torch::Tensor reference_finish(const torch::Tensor& out) const override {
    const double dims = static_cast<double>(out.size(-1));
    const auto root_mean_square =
        torch::sqrt((out * out).sum(-1, /*keepdim=*/true) / dims + kEpsilon);
    return out / root_mean_square * norm_scale_.to(torch::kDouble) * (1.0 - lambda_init_);
  }

  MapKind map_kind(MapKind) const override { return MapKind::Signed; }
  bool single_map() const override { return false; }

 private:
  torch::Tensor lambda(const torch::TensorOptions& options) const {
    const auto q1 = lambda_q1_.to(options), k1 = lambda_k1_.to(options);
    const auto q2 = lambda_q2_.to(options), k2 = lambda_k2_.to(options);
    return torch::exp((q1 * k1).sum()) - torch::exp((q2 * k2).sum()) + lambda_init_;  // scalar
  }

  std::int64_t half_;
  double lambda_init_;
  torch::Tensor lambda_q1_, lambda_k1_, lambda_q2_, lambda_k2_;  // [d]
  torch::Tensor norm_scale_;                                     // [D]
};

}  // namespace

ATTNLAB_REGISTER(mixer_registry(),
                 {"differential",
                  "two maps from the halves of q and k, the second subtracted with a learned λ; "
                  "per-head RMSNorm of the output (Ye et al. 2024)",
                  {}, {}, {},
                  [](const VariantOptions&, const AttentionSite& site) -> std::shared_ptr<Mixer> {
                    if (site.head_dim % 2 != 0) {
                      throw VariantError(
                          "variant.mixer = 'differential' splits each head's q and k into two "
                          "halves, but the head dimension model.d_model / model.heads = " +
                          std::to_string(site.head_dim) + " is odd");
                    }
                    return std::make_shared<DifferentialMixer>(site);
                  }});

}  // namespace attnlab::variants
