// Sigmoid attention (Ramapuram et al. 2024, "Theory, Analysis, and Best Practices for Sigmoid
// Self-Attention"): A_ij = sigmoid(s_ij + b) with b = -ln n, n the key length, and no row
// normalisation. Each key is weighed on its own; rows hold any non-negative mass (the bias keeps it
// near 1 at initialisation). Masked pairs get sigmoid(-inf) = 0.
//
// B = batch, H = heads, Tq = query length, Tk = key length.
#include <cmath>

#include "variants/parts.h"

namespace attnlab::variants {
namespace {

class SigmoidNormaliser : public Normaliser {
 public:
  explicit SigmoidNormaliser(double offset) : offset_(offset) {}

  torch::Tensor normalise(const torch::Tensor& scores) override {
    return torch::sigmoid(scores + bias(scores.size(-1)));  // [B,H,Tq,Tk]
  }
  torch::Tensor reference_normalise(const torch::Tensor& scores) const override {
    return 1.0 / (1.0 + torch::exp(-(scores + bias(scores.size(-1)))));
  }
  MapKind map_kind() const override { return MapKind::Unnormalised; }

 private:
  double bias(std::int64_t key_length) const {
    return -std::log(static_cast<double>(key_length)) + offset_;
  }
  double offset_;
};

}  // namespace

ATTNLAB_REGISTER(normaliser_registry(),
                 {"sigmoid",
                  "sigmoid(s + b), b = -ln n + variant.sigmoid_offset, no row normalisation "
                  "(Ramapuram et al. 2024)",
                  {{"sigmoid_offset", 0.0,
                    "added to the sigmoid normaliser's bias b = -ln n (n: key length)"}},
                  {}, {"logit_scores"},
                  [](const VariantOptions& options, const AttentionSite&) {
                    return std::make_shared<SigmoidNormaliser>(options.get_float("sigmoid_offset"));
                  }});

}  // namespace attnlab::variants
