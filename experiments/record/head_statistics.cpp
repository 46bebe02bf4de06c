#include "experiments/record/head_statistics.h"

#include <cmath>

namespace attnlab::record {
namespace {

// Relative slack when comparing a cumulative sum with 0.9 of the row's mass: float32 maps carry
// rounding (ten weights of 0.1f sum to 0.90000001), which must not cost a uniform row a key.
constexpr double kMassSlack = 1e-6;

torch::Tensor to_output(const torch::Tensor& statistic) {
  return statistic.to(torch::kCPU, torch::kFloat).contiguous();
}

// Mean over the last axis where `valid` ([H,Tq] bool) holds; NaN for a head without one.
torch::Tensor masked_mean(const torch::Tensor& per_query, const torch::Tensor& valid) {
  const auto total = torch::where(valid, per_query, torch::zeros_like(per_query)).sum(-1);  // [H]
  return total / valid.to(torch::kDouble).sum(-1);                                           // [H]
}

// A per-query array [H,Tq] for the file: NaN where the query has no allowed key.
torch::Tensor per_query_output(const torch::Tensor& per_query, const torch::Tensor& valid) {
  return to_output(per_query.masked_fill(valid.logical_not(), std::nan("")));
}

// Key positions p_i of the queries: [Tq] int64.
torch::Tensor query_positions(std::int64_t query_length, std::int64_t key_length) {
  return torch::arange(query_length, torch::kLong) + (key_length - query_length);
}

}  // namespace

torch::Tensor allowed_key_counts(const torch::Tensor& allowed, std::int64_t heads,
                                 std::int64_t query_length, std::int64_t key_length) {
  if (!allowed.defined()) return torch::full({heads, query_length}, key_length, torch::kInt);
  TORCH_CHECK(allowed.dim() == 3 && allowed.size(1) == query_length &&
                  allowed.size(2) == key_length,
              "allowed mask [1|H,Tq,Tk] expected, got ", allowed.sizes());
  auto counts = allowed.to(torch::kCPU).to(torch::kLong).sum(-1);  // [1|H,Tq]
  return counts.expand({heads, query_length}).to(torch::kInt).contiguous();
}

MapStatistics map_statistics(const torch::Tensor& probs, const torch::Tensor& allowed_keys) {
  TORCH_CHECK(probs.dim() == 4, "probabilities [B,H,Tq,Tk] expected, got ", probs.sizes());
  const auto query_length = probs.size(2), key_length = probs.size(3);
  const auto attention = probs.to(torch::kCPU, torch::kDouble);   // [B,H,Tq,Tk]
  const auto keys = allowed_keys.to(torch::kDouble);              // [H,Tq] n_i
  const auto valid = keys >= 1;                                   // [H,Tq]

  MapStatistics out;
  const auto entropy = -torch::xlogy(attention, attention).sum(-1);  // [B,H,Tq], 0 ln 0 = 0
  const auto entropy_per_query = entropy.mean(0);                    // [H,Tq]
  out.entropy_per_query = per_query_output(entropy_per_query, valid);
  out.entropy = to_output(masked_mean(entropy_per_query, valid));
  // ln 1 = 0: a query with a single allowed key has no entropy to normalise.
  const auto several = keys > 1;                                                  // [H,Tq]
  const auto log_keys = torch::where(several, keys.log(), torch::ones_like(keys));  // [H,Tq]
  out.entropy_normalised = to_output(masked_mean(entropy_per_query / log_keys, several));

  const auto confidence_per_query = std::get<0>(attention.max(-1)).mean(0);  // [H,Tq]
  out.confidence_per_query = per_query_output(confidence_per_query, valid);
  out.confidence = to_output(masked_mean(confidence_per_query, valid));

  const auto positions = query_positions(query_length, key_length);                 // [Tq]
  const auto key_index = torch::arange(key_length, torch::kLong);                   // [Tk]
  const auto offsets = (positions.unsqueeze(1) - key_index.unsqueeze(0)).abs();     // [Tq,Tk]
  const auto distance_per_query =
      (attention * offsets.to(torch::kDouble)).sum(-1).mean(0);                     // [H,Tq]
  out.distance_per_query = per_query_output(distance_per_query, valid);
  out.distance = to_output(masked_mean(distance_per_query, valid));

  out.sink_mass = to_output(masked_mean(attention.select(-1, 0).mean(0), valid));

  // Offset profile P(delta) = mean over queries whose key p_i - delta exists of A[i, p_i - delta].
  auto offset_mass = [&](std::int64_t delta) {
    const auto key = positions - delta;                                  // [Tq]
    const auto exists = (key >= 0).logical_and(key < key_length);        // [Tq]
    const auto index = key.clamp(0, key_length - 1)
                           .view({1, 1, query_length, 1})
                           .expand({attention.size(0), attention.size(1), query_length, 1});
    const auto mass = attention.gather(-1, index).squeeze(-1).mean(0);   // [H,Tq]
    return to_output(masked_mean(mass, valid.logical_and(exists.unsqueeze(0))));
  };
  out.self_mass = offset_mass(0);
  out.previous_mass = offset_mass(1);
  out.next_mass = offset_mass(-1);

  const auto sorted = std::get<0>(attention.sort(-1, /*descending=*/true));  // [B,H,Tq,Tk]
  const auto cumulative = sorted.cumsum(-1);                                  // [B,H,Tq,Tk]
  const auto target = 0.9 * attention.sum(-1, /*keepdim=*/true) * (1.0 - kMassSlack);
  const auto k90 = (cumulative < target).sum(-1).to(torch::kDouble) + 1.0;   // [B,H,Tq]
  const auto k90_per_query = k90.mean(0);                                     // [H,Tq]
  out.k90_per_query = per_query_output(k90_per_query, valid);
  out.k90 = to_output(masked_mean(k90_per_query, valid));
  return out;
}

OutputNorms output_norms(const torch::Tensor& probs, const torch::Tensor& values,
                         const torch::Tensor& output_weight, const torch::Tensor& allowed_keys) {
  const auto heads = probs.size(1), head_dim = values.size(3);
  const auto attention = probs.to(torch::kCPU, torch::kDouble);             // [B,H,Tq,Tk]
  const auto value = values.to(torch::kCPU, torch::kDouble);                // [B,H,Tk,D]
  const auto weight = output_weight.detach().to(torch::kCPU, torch::kDouble)
                          .view({output_weight.size(0), heads, head_dim})   // [C,H,D]
                          .permute({1, 2, 0});                              // [H,D,C]
  const auto transformed = torch::matmul(value, weight.unsqueeze(0));        // [B,H,Tk,C]
  const auto mixed = torch::matmul(attention, transformed);                  // [B,H,Tq,C]
  OutputNorms out;
  out.value_norms = to_output(transformed.norm(2, -1));                      // [B,H,Tk]
  const auto per_query = mixed.norm(2, -1).mean(0);                          // [H,Tq]
  out.per_query = per_query_output(per_query, allowed_keys >= 1);
  out.per_head = to_output(masked_mean(per_query, allowed_keys >= 1));
  return out;
}

}  // namespace attnlab::record
