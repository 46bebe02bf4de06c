// FAVOR+ (Choromanski et al. 2021, "Rethinking Attention with Performers"): positive orthogonal
// random features whose products approximate the softmax kernel exp(q·k / sqrt(d)):
//
//   φ(x) = exp(ω x' - |x'|^2 / 2) / sqrt(m),   x' = x / d^(1/4),   ω [m, d] random
//
// ω's rows come in blocks of d orthogonal directions (QR of Gaussian matrices), each row scaled to
// the norm of a Gaussian vector, as in the paper. ω is a buffer: checkpoints and exports hold it,
// so a resumed run and PyTorch see the same features. It is drawn from the run's seeded generator
// when the model is built and, with variant.favor_redraw = N > 0, redrawn every N training forward
// passes of the layer from a generator seeded by the layer's stored seed and the redraw's index,
// so that a resumed run redraws exactly as an uninterrupted one.
//
// Each query's features are divided by their largest exp(ω x' - |x'|^2 / 2): a factor per row,
// which the row normalisation cancels (favor needs variant.linear_denominator), and which keeps
// exp in range. A key's exponent is at most max_r |ω_r|^2 / 2 whatever x (ω x' - |x'|^2 / 2 <=
// |ω|^2 / 2), which passes fp32's range (88) for d_head above about 120: keys are divided by the
// constant exp(max(0, max_r |ω_r|^2 / 2 - 60)), which also cancels, and which depends on no key,
// so that no later key changes an earlier output. The exponents are computed in float32 under
// bf16 autocast.
//
// B = batch, H = heads, T = length, d = input dim, m = variant.favor_features.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>

#include "variants/full_precision.h"
#include "variants/parts.h"

namespace attnlab::variants {
namespace {

// [features, dim]: blocks of `dim` orthonormal rows, each row scaled by a chi-distributed norm.
torch::Tensor orthogonal_random_features(std::int64_t features, std::int64_t dim,
                                         const at::Generator& generator) {
  std::vector<torch::Tensor> blocks;
  for (std::int64_t rows = 0; rows < features; rows += dim) {
    const auto gaussian = at::normal(0.0, 1.0, {dim, dim}, generator, torch::kDouble);
    auto [q, r] = torch::linalg_qr(gaussian);
    // Householder QR fixes the sign of each column's first entry; the signs of R's diagonal undo
    // it, so that the directions are uniformly distributed (Mezzadri 2007).
    const auto orthonormal = (q * r.diagonal().sign().unsqueeze(0)).t();  // rows orthonormal
    blocks.push_back(orthonormal.narrow(0, 0, std::min(dim, features - rows)));
  }
  const auto norms = at::normal(0.0, 1.0, {features, dim}, generator, torch::kDouble).norm(2, -1);
  return (torch::cat(blocks, 0) * norms.unsqueeze(-1)).to(torch::kFloat);  // [m,d]
}

class FavorFeatureMap : public FeatureMap {
 public:
  FavorFeatureMap(std::int64_t input_dim, std::int64_t features, std::int64_t redraw)
      : input_dim_(input_dim), redraw_(redraw) {
    // The layer's seed comes from the run's seeded global generator, like its weights.
    const auto seed = torch::randint(std::int64_t{1} << 40, {}, torch::kLong);
    seed_ = register_buffer("seed", seed);
    draws_ = register_buffer("draws", torch::zeros({}, torch::kLong));
    projection_ = register_buffer(
        "projection", orthogonal_random_features(features, input_dim, generator_for(0)));
  }

  void begin_pass() override {
    if (is_training() && redraw_ > 0) advance();
  }

  torch::Tensor features(const torch::Tensor& x, Side side, const torch::Tensor&,
                         std::int64_t) override {
    FullPrecisionScope full_precision(x.device().type());
    // A copy: a redraw changes the buffer in place, which must not reach a pass's saved tensors.
    const auto omega = projection_.clone();
    const auto scaled = at_least_float32(x) * std::pow(static_cast<double>(input_dim_), -0.25);
    auto exponent = torch::matmul(scaled, omega.t()) -
                    scaled.pow(2).sum(-1, /*keepdim=*/true) * 0.5;  // [B,H,T,m]
    if (side == Side::Query) {
      exponent = exponent - exponent.amax(-1, /*keepdim=*/true);
    } else {
      exponent = exponent - key_shift(omega);
    }
    return torch::exp(exponent) * (1.0 / std::sqrt(static_cast<double>(omega.size(0))));
  }

  torch::Tensor reference_features(const torch::Tensor& x, Side side, const torch::Tensor&,
                                   std::int64_t) const override {
    const auto omega = projection_.to(torch::kDouble);
    const auto scaled = x / std::sqrt(std::sqrt(static_cast<double>(x.size(-1))));
    auto exponent = torch::einsum("bhtd,md->bhtm", {scaled, omega}) -
                    (scaled * scaled).sum(-1, /*keepdim=*/true) / 2.0;
    if (side == Side::Query) {
      exponent = exponent - std::get<0>(exponent.max(-1, /*keepdim=*/true));
    } else {
      const double largest = ((omega * omega).sum(-1) / 2.0).max().item<double>();
      exponent = exponent - std::max(0.0, largest - kLargestKeyExponent);
    }
    return torch::exp(exponent) / std::sqrt(static_cast<double>(omega.size(0)));
  }

  std::int64_t feature_dim(std::int64_t) const override { return projection_.size(0); }

 private:
  // Keys' exponents are kept at most this (exp(60) ~ 1e26, far below fp32's 3e38 after summing
  // a long sequence's keys).
  static constexpr double kLargestKeyExponent = 60.0;
  // A tensor, so that the device is not synchronised for it.
  static torch::Tensor key_shift(const torch::Tensor& omega) {
    return (omega.pow(2).sum(-1) * 0.5).max().sub(kLargestKeyExponent).clamp_min(0.0);
  }

  at::Generator generator_for(std::int64_t redraw_index) const {
    return at::detail::createCPUGenerator(
        static_cast<std::uint64_t>(seed_.item<std::int64_t>() * 1000003 + redraw_index));
  }
  // Counts this training forward pass; redraws ω when a multiple of redraw_ passes have run.
  void advance() {
    torch::NoGradGuard no_grad;
    const auto draws = draws_.item<std::int64_t>();
    if (draws > 0 && draws % redraw_ == 0) {
      projection_.copy_(orthogonal_random_features(projection_.size(0), input_dim_,
                                                   generator_for(draws / redraw_)));
    }
    draws_.fill_(draws + 1);
  }

  std::int64_t input_dim_, redraw_;
  torch::Tensor seed_, draws_, projection_;
};

}  // namespace

ATTNLAB_REGISTER(
    feature_map_registry(),
    {"favor", "positive orthogonal random features of exp(q·k/sqrt(d)) (Performer; "
              "Choromanski et al. 2021)",
     {{"favor_features", std::int64_t{128}, "random features m of the favor feature map",
       /*min=*/1.0},
      {"favor_redraw", std::int64_t{1000},
       "redraw the favor features every N training forward passes of a layer; 0: never",
       /*min=*/0.0}},
     {}, {},
     [](const VariantOptions& options, const AttentionSite& site) {
       if (!options.get_bool("linear_denominator")) {
         throw VariantError(
             "variant.linear_denominator: favor approximates softmax attention, whose "
             "normalisation is the denominator (its per-query scaling cancels only there); "
             "keep it true with variant.feature_map = favor");
       }
       return std::make_shared<FavorFeatureMap>(site.head_dim, options.get_int("favor_features"),
                                                options.get_int("favor_redraw"));
     }});

}  // namespace attnlab::variants
