// The normaliser of linear (kernel) attention (Katharopoulos et al. 2020): the non-negative
// scores s = φ(q)·φ(k) of the score `kernel`, masked, divided by their sum over the allowed keys,
//
//   A_ij = s_ij / Σ_j s_ij,
//
// so that rows are distributions, except a row whose scores are all 0 (relu and cosFormer
// features can vanish), which is all 0: the map is `partial`. With variant.linear_denominator =
// false the division is dropped and each head's output is RMS-normalised instead (TransNormer's
// NormAttention, Qin et al. 2022); its map is then unnormalised. The norm has no gain: the output projection that follows would absorb one.
//
// B = batch, H = heads, Tq = query length, Tk = key length, D = head dim.
#include "variants/linear_attention.h"
#include "variants/parts.h"

namespace attnlab::variants {
namespace {

class LinearNormaliser : public Normaliser {
 public:
  explicit LinearNormaliser(bool denominator) : denominator_(denominator) {}

  torch::Tensor normalise(const torch::Tensor& scores) override {
    // Masked pairs hold -inf; they weigh 0.
    const auto kept = scores.masked_fill(scores.isneginf(), 0.0);  // [B,H,Tq,Tk]
    if (!denominator_) return kept;
    return kept / kept.sum(-1, /*keepdim=*/true).clamp_min(kLinearDenominatorFloor);
  }
  torch::Tensor reference_normalise(const torch::Tensor& scores) const override {
    const auto kept = torch::where(scores.isneginf(), torch::zeros_like(scores), scores);
    if (!denominator_) return kept;
    const auto sums = kept.sum(-1, /*keepdim=*/true);
    return torch::where(sums > 0, kept / sums, torch::zeros_like(kept));
  }
  MapKind map_kind() const override {
    return denominator_ ? MapKind::Partial : MapKind::Unnormalised;
  }
  bool is_linear() const override { return true; }
  bool has_denominator() const override { return denominator_; }

  torch::Tensor normalise_output(const torch::Tensor& out) override {
    if (denominator_) return out;
    return out * torch::rsqrt(out.pow(2).mean(-1, /*keepdim=*/true) + kLinearNormEpsilon);
  }
  torch::Tensor reference_normalise_output(const torch::Tensor& out) const override {
    if (denominator_) return out;
    const double dims = static_cast<double>(out.size(-1));
    return out / torch::sqrt((out * out).sum(-1, /*keepdim=*/true) / dims + kLinearNormEpsilon);
  }

 private:
  bool denominator_;
};

}  // namespace

ATTNLAB_REGISTER(normaliser_registry(),
                 {"linear",
                  "kernel scores divided by their row sum (linear attention; needs "
                  "variant.score = kernel)",
                  {{"linear_denominator", true,
                    "divide linear attention by its row sums; false: RMS-normalise each head's "
                    "output instead (TransNormer, Qin et al. 2022)"}},
                  /*traits=*/{}, /*requires_traits=*/{"non_negative_scores"},
                  [](const VariantOptions& options, const AttentionSite&) {
                    return std::make_shared<LinearNormaliser>(
                        options.get_bool("linear_denominator"));
                  }});

}  // namespace attnlab::variants
