// ALiBi (Press et al. 2022): adds -m_h * |i - j| to the scores of head h; no embeddings, and the
// bias extends to lengths never seen in training. Slopes are the published ones: for H a power of
// two, m_h = 2^(-8h/H), h = 1..H; otherwise the slopes of the closest smaller power of two c,
// followed by every other slope of 2c until there are H. Causal attention sees only j <= i, where
// this is the original -m_h (i - j); bidirectional attention uses the symmetric distance.
//
// H = heads, Nq = queries, L = keys, Tq = query length, Tk = key length.
#include <cmath>
#include <cstdlib>

#include "variants/parts.h"

namespace attnlab::variants {
namespace {

std::vector<double> power_of_two_slopes(std::int64_t heads) {
  std::vector<double> slopes;
  for (std::int64_t h = 1; h <= heads; ++h) {
    slopes.push_back(std::pow(2.0, -8.0 * static_cast<double>(h) / static_cast<double>(heads)));
  }
  return slopes;
}

std::vector<double> alibi_slopes(std::int64_t heads) {
  const auto closest = std::int64_t{1} << static_cast<int>(std::floor(std::log2(heads)));
  auto slopes = power_of_two_slopes(closest);
  if (closest == heads) return slopes;
  const auto doubled = power_of_two_slopes(2 * closest);
  for (std::size_t i = 0; slopes.size() < static_cast<std::size_t>(heads); i += 2) {
    slopes.push_back(doubled[i]);
  }
  return slopes;
}

// The reference's slopes: Press et al.'s get_slopes(n), transcribed from the paper's code.
std::vector<double> published_alibi_slopes(std::int64_t heads) {
  auto power_of_2 = [](std::int64_t n) {
    const double start = std::pow(2.0, -std::pow(2.0, -(std::log2(static_cast<double>(n)) - 3)));
    std::vector<double> slopes;
    for (std::int64_t i = 0; i < n; ++i) slopes.push_back(start * std::pow(start, i));
    return slopes;
  };
  const double log_heads = std::log2(static_cast<double>(heads));
  if (log_heads == std::floor(log_heads)) return power_of_2(heads);
  const auto closest = static_cast<std::int64_t>(std::pow(2.0, std::floor(log_heads)));
  auto slopes = power_of_2(closest);
  const auto doubled = published_alibi_slopes(2 * closest);
  for (std::size_t i = 0; i < doubled.size() && slopes.size() < static_cast<std::size_t>(heads);
       i += 2) {
    slopes.push_back(doubled[i]);
  }
  return slopes;
}

class AlibiPosition : public Position {
 public:
  explicit AlibiPosition(const AttentionSite& site) : heads_(site.heads) {
    const auto slopes = alibi_slopes(site.heads);
    slopes_ = torch::tensor(slopes, torch::kDouble).view({site.heads, 1, 1});  // [H,1,1]
  }

  bool adds_bias() const override { return true; }

  torch::Tensor bias_at(const torch::Tensor& query_positions, const torch::Tensor& key_positions,
                        const torch::TensorOptions& options) override {
    auto distance = (key_positions.unsqueeze(-2) - query_positions.view({1, -1, 1})).abs();
    return -slopes_.to(options) * distance.to(options);  // [H,Nq,L]
  }

  torch::Tensor reference_bias(std::int64_t query_length,
                               std::int64_t key_length) const override {
    const auto slopes = published_alibi_slopes(heads_);
    auto bias = torch::zeros({heads_, query_length, key_length}, torch::kDouble);  // [H,Tq,Tk]
    auto cells = bias.accessor<double, 3>();
    for (std::int64_t h = 0; h < heads_; ++h) {
      for (std::int64_t i = 0; i < query_length; ++i) {
        const std::int64_t position = i + key_length - query_length;
        for (std::int64_t j = 0; j < key_length; ++j) {
          cells[h][i][j] = -slopes[h] * static_cast<double>(std::abs(position - j));
        }
      }
    }
    return bias;
  }

 private:
  std::int64_t heads_;
  torch::Tensor slopes_;  // [H,1,1] double
};

}  // namespace

ATTNLAB_REGISTER(position_registry(),
                 {"alibi",
                  "linear distance bias -m_h |i - j| with the published per-head slopes "
                  "(Press et al. 2022)",
                  /*options=*/{}, /*traits=*/{}, /*requires_traits=*/{"logit_scores"},
                  [](const VariantOptions&, const AttentionSite& site) {
                    return std::make_shared<AlibiPosition>(site);
                  }});

}  // namespace attnlab::variants
