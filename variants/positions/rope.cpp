// Rotary position embedding (Su et al. 2021, RoFormer): rotates pairs of q and k dimensions by an
// angle proportional to the position, so q_i·k_j depends on positions only through i - j. The
// first `rope_fraction` of each head's dimensions are rotated (GPT-NeoX's partial rotary), paired
// as (m, m + R/2) for the R rotated dimensions; dimension pair m turns at rope_base^(-2m/R) radians
// per position.
//
// B = batch, H = heads, T = length, D = head dim, R = rotated dims.
#include <cmath>

#include "variants/parts.h"

namespace attnlab::variants {
namespace {

class RotaryPosition : public Position {
 public:
  RotaryPosition(const AttentionSite& site, double base, double fraction) : base_(base) {
    const auto pairs = static_cast<std::int64_t>(std::floor(fraction * site.head_dim / 2.0));
    if (pairs < 1) {
      throw VariantError("variant.rope_fraction = " + std::to_string(fraction) +
                         " rotates no dimension pair of a " + std::to_string(site.head_dim) +
                         "-dimensional head; raise it (at least 2 / d_head)");
    }
    rotated_ = 2 * pairs;
  }

  std::pair<torch::Tensor, torch::Tensor> rotate(const torch::Tensor& q,
                                                 const torch::Tensor& k) override {
    const std::int64_t query_length = q.size(2), key_length = k.size(2);
    const std::int64_t offset = key_length - query_length;
    return {apply(q, torch::arange(offset, offset + query_length, torch::kDouble)),
            apply(k, torch::arange(key_length, torch::kDouble))};
  }

  std::pair<torch::Tensor, torch::Tensor> reference_rotate(const torch::Tensor& q,
                                                           const torch::Tensor& k) const override {
    return {reference_apply(q, /*first_position=*/k.size(2) - q.size(2)),
            reference_apply(k, /*first_position=*/0)};
  }

 private:
  // x [B,H,T,D] rotated at positions [T].
  torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& positions) const {
    const std::int64_t half = rotated_ / 2;
    // Angles in double: position * frequency loses digits in fp32 at long T.
    auto exponents = torch::arange(half, torch::kDouble) * (-2.0 / static_cast<double>(rotated_));
    auto frequencies = torch::pow(base_, exponents);                                 // [R/2]
    auto angles = positions.unsqueeze(1) * frequencies.unsqueeze(0);                  // [T,R/2]
    auto cos = angles.cos().to(x.options());
    auto sin = angles.sin().to(x.options());
    auto first = x.narrow(-1, 0, half);                                               // [B,H,T,R/2]
    auto second = x.narrow(-1, half, half);                                           // [B,H,T,R/2]
    auto rotated = torch::cat({first * cos - second * sin, second * cos + first * sin}, -1);
    if (rotated_ == x.size(-1)) return rotated;  // [B,H,T,D]
    return torch::cat({rotated, x.narrow(-1, rotated_, x.size(-1) - rotated_)}, -1);  // [B,H,T,D]
  }

  // x [B,H,T,D] double, one dimension pair (m, m + R/2) at a time.
  torch::Tensor reference_apply(const torch::Tensor& x, std::int64_t first_position) const {
    const std::int64_t half = rotated_ / 2;
    auto positions = torch::arange(first_position, first_position + x.size(2), torch::kDouble);
    auto out = x.clone();
    for (std::int64_t m = 0; m < half; ++m) {
      const double frequency = std::pow(base_, -2.0 * static_cast<double>(m) / rotated_);
      auto cos = (positions * frequency).cos().view({1, 1, -1});  // [1,1,T]
      auto sin = (positions * frequency).sin().view({1, 1, -1});  // [1,1,T]
      auto first = x.select(-1, m), second = x.select(-1, m + half);  // [B,H,T]
      out.select(-1, m).copy_(first * cos - second * sin);
      out.select(-1, m + half).copy_(second * cos + first * sin);
    }
    return out;
  }

  double base_;
  std::int64_t rotated_;
};

}  // namespace

ATTNLAB_REGISTER(
    position_registry(),
    {"rope", "rotary embedding of q and k; q·k depends on i - j only (Su et al. 2021)",
     /*options=*/
     {{"rope_base", 10000.0, "RoPE: dimension pair m turns at rope_base^(-2m/R) per position",
       /*min=*/0.0, /*min_exclusive=*/true},
      {"rope_fraction", 1.0, "RoPE: fraction R/d_head of each head's dimensions that is rotated",
       /*min=*/0.0, /*min_exclusive=*/true, /*max=*/1.0}},
     /*traits=*/{},
     // Rotations only encode i - j through a dot product of q and k.
     /*requires_traits=*/{"dot_product"},
     [](const VariantOptions& options, const AttentionSite& site) {
       return std::make_shared<RotaryPosition>(site, options.get_float("rope_base"),
                                               options.get_float("rope_fraction"));
     }});

}  // namespace attnlab::variants
