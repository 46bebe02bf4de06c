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

// The maps' sizes, and n_i per (head, query) cell. Query i sits at key position i + offset().
struct CellLayout {
  std::int64_t samples, heads, query_length, key_length;
  const std::int32_t* allowed;  // [H,Tq]

  std::int64_t offset() const { return key_length - query_length; }
  std::size_t cells() const { return static_cast<std::size_t>(heads * query_length); }
};

// Sums over samples per (head, query) cell, each [H*Tq]: of the analysed rows (`rows` of them),
// and of every row's masses.
struct CellSums {
  explicit CellSums(std::size_t cells)
      : rows(cells), entropy(cells), confidence(cells), distance(cells), k90(cells), sink(cells),
        self(cells), previous(cells), next(cells), row_mass(cells), row_abs_mass(cells) {}
  std::vector<double> rows, entropy, confidence, distance, k90, sink, self, previous, next;
  std::vector<double> row_mass, row_abs_mass;
};

// k90 of one row: the fewest of its largest weights whose sum reaches 0.9 of its mass. A row
// with NaN (a diverged run) has none: sorting it would break the comparator's ordering.
double keys_holding_most_mass(const float* row, std::int64_t key_length, double row_mass,
                              std::vector<float>& sorted) {
  if (std::isnan(row_mass)) return std::numeric_limits<double>::quiet_NaN();
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
  return static_cast<double>(count);
}

// Adds the analysed row of the query at key position `position` to `cell` of `sums`; `sorted` is
// scratch space of key_length weights.
void add_row(const float* row, std::int64_t key_length, std::int64_t position, std::size_t cell,
             std::vector<float>& sorted, CellSums& sums) {
  sums.rows[cell] += 1.0;
  double row_entropy = 0.0, row_max = 0.0, row_distance = 0.0, row_mass = 0.0;
  for (std::int64_t key = 0; key < key_length; ++key) {
    const double weight = row[key];
    if (weight > 0.0) row_entropy -= weight * std::log(weight);  // 0 ln 0 = 0
    row_max = std::max(row_max, weight);
    row_distance += weight * static_cast<double>(std::abs(position - key));
    row_mass += weight;
  }
  sums.entropy[cell] += row_entropy;
  sums.confidence[cell] += row_max;
  sums.distance[cell] += row_distance;
  sums.sink[cell] += row[0];
  if (position >= 0 && position < key_length) sums.self[cell] += row[position];
  if (position >= 1 && position - 1 < key_length) sums.previous[cell] += row[position - 1];
  if (position + 1 >= 0 && position + 1 < key_length) sums.next[cell] += row[position + 1];
  sums.k90[cell] += keys_holding_most_mass(row, key_length, row_mass, sorted);
}

// Adds a stored row's masses to `cell` of `sums`; returns sum_j |A_ij|.
double add_row_masses(const float* row, std::int64_t key_length, std::size_t cell,
                      CellSums& sums) {
  double mass = 0.0, abs_mass = 0.0;
  for (std::int64_t key = 0; key < key_length; ++key) {
    mass += row[key];
    abs_mass += std::abs(static_cast<double>(row[key]));
  }
  sums.row_mass[cell] += mass;
  sums.row_abs_mass[cell] += abs_mass;
  return abs_mass;
}

// |A_ij| / sum_l |A_il| into `analysed`; null for a row of zero mass, which has no such row. A
// NaN row (a diverged run) stays NaN, so that its statistics say so.
const float* normalised_abs_row(const float* row, std::int64_t key_length, double abs_mass,
                                std::vector<float>& analysed) {
  if (abs_mass == 0.0) return nullptr;
  for (std::int64_t key = 0; key < key_length; ++key) {
    analysed[static_cast<std::size_t>(key)] =
        static_cast<float>(std::abs(static_cast<double>(row[key])) / abs_mass);
  }
  return analysed.data();
}

// One pass over each row of `weights` [B,H,Tq,Tk] in plain loops: the maps are small and many
// (B*H*Tq rows), so a sequence of tensor operations would cost more in dispatch than in
// arithmetic. `normalise`: analyse |A_ij| / sum_l |A_il| instead of the stored row.
CellSums sum_rows(const float* weights, const CellLayout& layout, bool normalise) {
  CellSums sums(layout.cells());
  std::vector<float> sorted(static_cast<std::size_t>(layout.key_length));
  std::vector<float> analysed(static_cast<std::size_t>(layout.key_length));
  for (std::int64_t sample = 0; sample < layout.samples; ++sample) {
    for (std::int64_t head = 0; head < layout.heads; ++head) {
      for (std::int64_t query = 0; query < layout.query_length; ++query) {
        const auto cell = static_cast<std::size_t>(head * layout.query_length + query);
        const auto row_index = (sample * layout.heads + head) * layout.query_length + query;
        const float* stored = weights + row_index * layout.key_length;
        const double abs_mass = add_row_masses(stored, layout.key_length, cell, sums);
        const float* row =
            normalise ? normalised_abs_row(stored, layout.key_length, abs_mass, analysed) : stored;
        if (row != nullptr) {
          add_row(row, layout.key_length, query + layout.offset(), cell, sorted, sums);
        }
      }
    }
  }
  return sums;
}

// [H,Tq]: the mean per query over its `counts` rows; NaN where the query has no allowed key or
// no row.
torch::Tensor per_query_means(const CellLayout& layout, const std::vector<double>& sums,
                              const std::vector<double>& counts) {
  auto out = torch::empty({layout.heads, layout.query_length}, torch::kFloat);  // [H,Tq]
  float* values = out.data_ptr<float>();
  for (std::size_t cell = 0; cell < layout.cells(); ++cell) {
    values[cell] = layout.allowed[cell] >= 1 && counts[cell] > 0
                       ? static_cast<float>(sums[cell] / counts[cell])
                       : std::nanf("");
  }
  return out;
}

// [H]: the mean per query over its `counts` rows, then over the queries that have a row and
// that `include(query, n_i)` accepts; NaN for a head without one.
template <typename Include>
torch::Tensor per_head_means(const CellLayout& layout, const std::vector<double>& sums,
                             const std::vector<double>& counts, Include include) {
  auto out = torch::empty({layout.heads}, torch::kFloat);  // [H]
  float* values = out.data_ptr<float>();
  for (std::int64_t head = 0; head < layout.heads; ++head) {
    double total = 0.0;
    std::int64_t counted = 0;
    for (std::int64_t query = 0; query < layout.query_length; ++query) {
      const auto cell = static_cast<std::size_t>(head * layout.query_length + query);
      if (counts[cell] <= 0 || !include(query, layout.allowed[cell])) continue;
      total += sums[cell] / counts[cell];
      ++counted;
    }
    values[head] = counted > 0 ? static_cast<float>(total / static_cast<double>(counted))
                               : std::nanf("");
  }
  return out;
}

bool has_keys(std::int64_t /*query*/, std::int32_t keys) { return keys >= 1; }

// The statistics of the analysed rows, each mean over the rows `sums` analysed.
MapStatistics analysed_statistics(const CellLayout& layout, const CellSums& sums) {
  const auto key_exists = [&layout](std::int64_t delta) {
    return [&layout, delta](std::int64_t query, std::int32_t keys) {
      const auto key = query + layout.offset() - delta;
      return keys >= 1 && key >= 0 && key < layout.key_length;
    };
  };
  const auto& rows = sums.rows;
  MapStatistics out;
  out.entropy = per_head_means(layout, sums.entropy, rows, has_keys);
  // ln 1 = 0: a query with a single allowed key has no entropy to normalise.
  std::vector<double> normalised(layout.cells());
  for (std::size_t cell = 0; cell < layout.cells(); ++cell) {
    const auto allowed = layout.allowed[cell];
    normalised[cell] = allowed > 1 ? sums.entropy[cell] / std::log(allowed) : 0.0;
  }
  out.entropy_normalised = per_head_means(
      layout, normalised, rows, [](std::int64_t, std::int32_t keys) { return keys > 1; });
  out.confidence = per_head_means(layout, sums.confidence, rows, has_keys);
  out.distance = per_head_means(layout, sums.distance, rows, has_keys);
  out.sink_mass = per_head_means(layout, sums.sink, rows, has_keys);
  out.self_mass = per_head_means(layout, sums.self, rows, key_exists(0));
  out.previous_mass = per_head_means(layout, sums.previous, rows, key_exists(1));
  out.next_mass = per_head_means(layout, sums.next, rows, key_exists(-1));
  out.k90 = per_head_means(layout, sums.k90, rows, has_keys);
  out.entropy_per_query = per_query_means(layout, sums.entropy, rows);
  out.confidence_per_query = per_query_means(layout, sums.confidence, rows);
  out.distance_per_query = per_query_means(layout, sums.distance, rows);
  out.k90_per_query = per_query_means(layout, sums.k90, rows);
  return out;
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

MapStatistics map_statistics(const torch::Tensor& maps, const torch::Tensor& allowed_keys,
                             variants::MapKind kind) {
  TORCH_CHECK(maps.dim() == 4, "maps [B,H,Tq,Tk] expected, got ", maps.sizes());
  const auto attention = maps.to(torch::kCPU, torch::kFloat).contiguous();    // [B,H,Tq,Tk]
  const auto keys = allowed_keys.to(torch::kCPU, torch::kInt).contiguous();  // [H,Tq]
  const CellLayout layout{maps.size(0), maps.size(1), maps.size(2), maps.size(3),
                          keys.data_ptr<std::int32_t>()};
  const CellSums sums = sum_rows(attention.data_ptr<float>(), layout,
                                 /*normalise=*/kind != variants::MapKind::Distribution);
  auto out = analysed_statistics(layout, sums);
  // Every row has a mass, a zero one included: the means run over all samples.
  const std::vector<double> samples(layout.cells(), static_cast<double>(layout.samples));
  out.row_mass = per_head_means(layout, sums.row_mass, samples, has_keys);
  out.row_abs_mass = per_head_means(layout, sums.row_abs_mass, samples, has_keys);
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
