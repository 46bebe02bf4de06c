#include "experiments/record/head_statistics.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

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
  const auto samples = probs.size(0), heads = probs.size(1);
  const auto query_length = probs.size(2), key_length = probs.size(3);
  // One pass over each row in plain loops: the maps are small and many (B*H*Tq rows), so a
  // sequence of tensor operations would cost more in dispatch than in arithmetic.
  const auto attention = probs.to(torch::kCPU, torch::kFloat).contiguous();   // [B,H,Tq,Tk]
  const auto keys = allowed_keys.to(torch::kCPU, torch::kInt).contiguous();  // [H,Tq]
  const float* weights = attention.data_ptr<float>();
  const std::int32_t* allowed = keys.data_ptr<std::int32_t>();
  const auto offset = key_length - query_length;  // query i sits at key position i + offset

  // Sums over samples per (head, query).
  const auto cells = static_cast<std::size_t>(heads * query_length);
  std::vector<double> entropy(cells), confidence(cells), distance(cells), k90(cells), sink(cells),
      self(cells), previous(cells), next(cells);
  std::vector<float> sorted(static_cast<std::size_t>(key_length));
  for (std::int64_t sample = 0; sample < samples; ++sample) {
    for (std::int64_t head = 0; head < heads; ++head) {
      for (std::int64_t query = 0; query < query_length; ++query) {
        const auto cell = static_cast<std::size_t>(head * query_length + query);
        const float* row = weights + ((sample * heads + head) * query_length + query) * key_length;
        const auto position = query + offset;
        double row_entropy = 0.0, row_max = 0.0, row_distance = 0.0, row_mass = 0.0;
        for (std::int64_t key = 0; key < key_length; ++key) {
          const double weight = row[key];
          if (weight > 0.0) row_entropy -= weight * std::log(weight);  // 0 ln 0 = 0
          row_max = std::max(row_max, weight);
          row_distance += weight * static_cast<double>(std::abs(position - key));
          row_mass += weight;
        }
        entropy[cell] += row_entropy;
        confidence[cell] += row_max;
        distance[cell] += row_distance;
        sink[cell] += row[0];
        if (position >= 0 && position < key_length) self[cell] += row[position];
        if (position >= 1 && position - 1 < key_length) previous[cell] += row[position - 1];
        if (position + 1 >= 0 && position + 1 < key_length) next[cell] += row[position + 1];
        // k90: the fewest of the largest weights whose sum reaches 0.9 of the row's mass. A row
        // with NaN (a diverged run) has none: sorting it would break the comparator's ordering.
        if (std::isnan(row_mass)) {
          k90[cell] += std::numeric_limits<double>::quiet_NaN();
          continue;
        }
        std::copy(row, row + key_length, sorted.begin());
        std::sort(sorted.begin(), sorted.end(), std::greater<float>());
        const double target = 0.9 * row_mass * (1.0 - kMassSlack);
        double cumulative = 0.0;
        std::int64_t count = 0;
        while (count < key_length) {
          cumulative += sorted[static_cast<std::size_t>(count)];
          ++count;
          if (cumulative >= target) break;
        }
        k90[cell] += static_cast<double>(count);
      }
    }
  }

  // Means over samples per query, then over the valid queries per head.
  auto per_query = [&](const std::vector<double>& sums) {
    auto out = torch::empty({heads, query_length}, torch::kFloat);  // [H,Tq]
    float* values = out.data_ptr<float>();
    for (std::size_t cell = 0; cell < cells; ++cell) {
      values[cell] = allowed[cell] >= 1
                         ? static_cast<float>(sums[cell] / static_cast<double>(samples))
                         : std::nanf("");
    }
    return out;
  };
  // `include(query, n_i)` says which queries a head's mean runs over.
  auto per_head = [&](const std::vector<double>& sums, auto&& include) {
    auto out = torch::empty({heads}, torch::kFloat);  // [H]
    float* values = out.data_ptr<float>();
    for (std::int64_t head = 0; head < heads; ++head) {
      double total = 0.0;
      std::int64_t counted = 0;
      for (std::int64_t query = 0; query < query_length; ++query) {
        const auto cell = static_cast<std::size_t>(head * query_length + query);
        if (!include(query, allowed[cell])) continue;
        total += sums[cell] / static_cast<double>(samples);
        ++counted;
      }
      values[head] = counted > 0 ? static_cast<float>(total / static_cast<double>(counted))
                                 : std::nanf("");
    }
    return out;
  };
  auto valid = [](std::int64_t, std::int32_t keys) { return keys >= 1; };
  auto key_exists = [&](std::int64_t delta) {
    return [=](std::int64_t query, std::int32_t keys) {
      const auto key = query + offset - delta;
      return keys >= 1 && key >= 0 && key < key_length;
    };
  };

  MapStatistics out;
  out.entropy = per_head(entropy, valid);
  // ln 1 = 0: a query with a single allowed key has no entropy to normalise.
  std::vector<double> normalised(cells);
  for (std::size_t cell = 0; cell < cells; ++cell) {
    normalised[cell] = allowed[cell] > 1 ? entropy[cell] / std::log(allowed[cell]) : 0.0;
  }
  out.entropy_normalised =
      per_head(normalised, [](std::int64_t, std::int32_t keys) { return keys > 1; });
  out.confidence = per_head(confidence, valid);
  out.distance = per_head(distance, valid);
  out.sink_mass = per_head(sink, valid);
  out.self_mass = per_head(self, key_exists(0));
  out.previous_mass = per_head(previous, key_exists(1));
  out.next_mass = per_head(next, key_exists(-1));
  out.k90 = per_head(k90, valid);
  out.entropy_per_query = per_query(entropy);
  out.confidence_per_query = per_query(confidence);
  out.distance_per_query = per_query(distance);
  out.k90_per_query = per_query(k90);
  return out;
}

OutputNorms output_norms(const torch::Tensor& probs, const torch::Tensor& values,
                         const torch::Tensor& output_weight, const torch::Tensor& allowed_keys) {
  // sum_j A_ij f_h(x_j) = (sum_j A_ij v_j) W_O^h: mix the values first (D < C), then project the
  // values and the mixtures through W_O^h in one batched product per head. float32: float64
  // batched products take a slow path, and norms need no more precision.
  const auto samples = probs.size(0), heads = probs.size(1), query_length = probs.size(2);
  const auto key_length = values.size(2), head_dim = values.size(3);
  const auto value = values.to(torch::kCPU, torch::kFloat);                          // [B,H,Tk,D]
  const auto mixed = torch::matmul(probs.to(torch::kCPU, torch::kFloat), value);     // [B,H,Tq,D]
  const auto rows = torch::cat({value, mixed}, /*dim=*/2)                            // [B,H,Tk+Tq,D]
                        .permute({1, 0, 2, 3})
                        .reshape({heads, samples * (key_length + query_length), head_dim});
  const auto weight = output_weight.detach().to(torch::kCPU, torch::kFloat)
                          .view({output_weight.size(0), heads, head_dim})            // [C,H,D]
                          .permute({1, 2, 0});                                       // [H,D,C]
  const auto norms = torch::bmm(rows, weight).norm(2, -1)                            // [H,B*(Tk+Tq)]
                         .view({heads, samples, key_length + query_length})
                         .permute({1, 0, 2});                                        // [B,H,Tk+Tq]
  const auto valid = allowed_keys >= 1;                                              // [H,Tq]
  OutputNorms out;
  out.value_norms = to_output(norms.narrow(2, 0, key_length));                       // [B,H,Tk]
  const auto per_query =
      norms.narrow(2, key_length, query_length).to(torch::kDouble).mean(0);          // [H,Tq]
  out.per_query = per_query_output(per_query, valid);
  out.per_head = to_output(masked_mean(per_query, valid));
  return out;
}

}  // namespace attnlab::record
