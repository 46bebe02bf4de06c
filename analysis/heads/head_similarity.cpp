#include "analysis/heads/head_similarity.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "analysis/heads/analysed_map.h"
#include "analysis/heads/head_thresholds.h"

namespace attnlab::heads {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kLn2 = std::log(2.0);

// Σ_j p'_j ln p'_j of every row of one map: the per-head half of JS, computed once per map
// instead of once per pair.
std::vector<double> row_neg_entropies(const float* map, std::int64_t rows, std::int64_t keys) {
  std::vector<double> result(static_cast<std::size_t>(rows));
  const double floor = kJsSmoothing / static_cast<double>(keys);
  for (std::int64_t i = 0; i < rows; ++i) {
    double sum = 0;
    for (std::int64_t j = 0; j < keys; ++j) {
      const double p = floor + (1.0 - kJsSmoothing) * map[i * keys + j];
      sum += p * std::log(p);
    }
    result[static_cast<std::size_t>(i)] = sum;
  }
  return result;
}

// JS = 1/2 Σ p' ln p' + 1/2 Σ q' ln q' - Σ m ln m, m = (p' + q') / 2.
double js_from_parts(const float* first, const float* second, std::int64_t keys,
                     double first_part, double second_part) {
  const double floor = kJsSmoothing / static_cast<double>(keys);
  double mixture = 0;
  for (std::int64_t j = 0; j < keys; ++j) {
    const double m = floor + (1.0 - kJsSmoothing) * 0.5 * (first[j] + second[j]);
    mixture += m * std::log(m);
  }
  // Rounding can take an identical pair a hair below zero.
  return std::max(0.0, 0.5 * (first_part + second_part) - mixture);
}

// One layer's analysed maps of one sample (analysed_map.h), with their row terms.
struct LayerMaps {
  std::vector<AnalysedMap> maps;                 // [H]
  std::vector<std::vector<double>> neg_entropy;  // [H] of [Tq]
};

// allowed [H,Tq]: the layer's allowed keys.
LayerMaps read_layer(const dump::DumpReader& reader, std::int64_t layer, std::int64_t snapshot,
                     std::int64_t sample, const dump::Array<std::int32_t>& allowed) {
  const auto& info = reader.layers()[static_cast<std::size_t>(layer)];
  LayerMaps result;
  for (std::int64_t head = 0; head < info.heads; ++head) {
    result.maps.push_back(read_analysed_map(reader, layer, snapshot, sample, head,
                                            allowed.values.data() + head * info.query_length));
    result.neg_entropy.push_back(row_neg_entropies(result.maps.back().weights.data(),
                                                   info.query_length, info.key_length));
  }
  return result;
}

}  // namespace

double js_divergence(const float* first, const float* second, std::int64_t keys) {
  return js_from_parts(first, second, keys, row_neg_entropies(first, 1, keys)[0],
                       row_neg_entropies(second, 1, keys)[0]);
}

void cluster_heads(HeadSimilarity& similarity, double threshold) {
  const auto count = similarity.size();
  similarity.merges.clear();
  similarity.order.clear();
  similarity.group.assign(static_cast<std::size_t>(count), -1);
  if (count == 0) return;
  // Distances between live clusters, indexed by cluster id (heads 0..K-1, merges K..2K-2).
  const auto total = 2 * count - 1;
  std::vector<double> distance(static_cast<std::size_t>(total * total), 0.0);
  const auto cell = [&](std::int64_t a, std::int64_t b) -> double& {
    return distance[static_cast<std::size_t>(a * total + b)];
  };
  for (std::int64_t a = 0; a < count; ++a) {
    for (std::int64_t b = 0; b < count; ++b) {
      const double value = similarity.at(a, b);
      cell(a, b) = std::isnan(value) ? kLn2 : value;
    }
  }
  std::vector<std::int64_t> live(static_cast<std::size_t>(count)), size(total, 1);
  std::vector<std::pair<std::int64_t, std::int64_t>> children(static_cast<std::size_t>(total),
                                                              {-1, -1});
  for (std::int64_t index = 0; index < count; ++index) live[index] = index;
  for (std::int64_t next = count; next < total; ++next) {
    // The closest live pair; ties go to the lowest ids, so the result is deterministic.
    std::size_t best_a = 0, best_b = 1;
    for (std::size_t a = 0; a < live.size(); ++a) {
      for (std::size_t b = a + 1; b < live.size(); ++b) {
        if (cell(live[a], live[b]) < cell(live[best_a], live[best_b])) best_a = a, best_b = b;
      }
    }
    const auto first = std::min(live[best_a], live[best_b]);
    const auto second = std::max(live[best_a], live[best_b]);
    const double merged = cell(first, second);
    size[next] = size[first] + size[second];
    children[next] = {first, second};
    similarity.merges.push_back({first, second, merged, size[next]});
    // UPGMA: the new cluster's distance to another is the size-weighted mean of its parts'.
    for (const auto other : live) {
      if (other == first || other == second) continue;
      const double value = (static_cast<double>(size[first]) * cell(first, other) +
                            static_cast<double>(size[second]) * cell(second, other)) /
                           static_cast<double>(size[next]);
      cell(next, other) = cell(other, next) = value;
    }
    live.erase(live.begin() + static_cast<std::ptrdiff_t>(best_b));
    live[best_a] = next;
  }

  // Leaf order: depth-first, lower cluster id first, so each cluster's heads are contiguous.
  std::function<void(std::int64_t)> visit = [&](std::int64_t cluster) {
    if (cluster < count) {
      similarity.order.push_back(cluster);
      return;
    }
    visit(children[cluster].first);
    visit(children[cluster].second);
  };
  visit(total - 1);

  // Groups: the clusters standing after every merge at distance <= threshold (average-linkage
  // merge distances never decrease, so these are the clusters of a cut at the threshold).
  std::vector<std::int64_t> root(static_cast<std::size_t>(total));
  for (std::int64_t index = 0; index < total; ++index) root[index] = index;
  std::function<std::int64_t(std::int64_t)> find = [&](std::int64_t cluster) {
    return root[cluster] == cluster ? cluster : root[cluster] = find(root[cluster]);
  };
  for (std::int64_t step = 0; step < count - 1; ++step) {
    const auto& merge = similarity.merges[static_cast<std::size_t>(step)];
    if (merge.distance > threshold) continue;
    root[find(merge.first)] = count + step;
    root[find(merge.second)] = count + step;
  }
  std::vector<std::int64_t> group_of_root(static_cast<std::size_t>(total), -1);
  std::vector<std::int64_t> members(static_cast<std::size_t>(total), 0);
  for (std::int64_t head = 0; head < count; ++head) ++members[find(head)];
  std::int64_t groups = 0;
  for (std::int64_t head = 0; head < count; ++head) {  // numbered by their first head
    const auto cluster = find(head);
    if (members[cluster] < 2) continue;
    if (group_of_root[cluster] < 0) group_of_root[cluster] = groups++;
    similarity.group[head] = group_of_root[cluster];
  }
}

HeadSimilarity head_similarity(const dump::DumpReader& reader, std::int64_t snapshot,
                               const ProgressCallback& progress) {
  if (!reader.has_maps()) {
    throw dump::DumpError("attention dump " + reader.path().string() +
                          ": recorded without maps (record.maps = false): no head similarity");
  }
  HeadSimilarity similarity;
  similarity.snapshot = snapshot;
  similarity.step = reader.steps()[static_cast<std::size_t>(snapshot)];
  const auto& layers = reader.layers();
  std::vector<std::int64_t> first_of_layer;
  for (std::size_t layer = 0; layer < layers.size(); ++layer) {
    first_of_layer.push_back(similarity.size());
    for (std::int64_t head = 0; head < layers[layer].heads; ++head) {
      similarity.heads.push_back({static_cast<std::int64_t>(layer), head});
    }
  }
  const auto count = similarity.size();
  std::vector<double> sum(static_cast<std::size_t>(count * count), 0.0);
  std::vector<std::int64_t> rows(static_cast<std::size_t>(count * count), 0);
  std::vector<dump::Array<std::int32_t>> allowed;
  for (std::size_t layer = 0; layer < layers.size(); ++layer) {
    allowed.push_back(reader.allowed_keys(static_cast<std::int64_t>(layer)));
    // A file of another layout must fail with its name, not index out of bounds.
    if (allowed.back().shape !=
        std::vector<std::int64_t>{layers[layer].heads, layers[layer].query_length}) {
      throw dump::DumpError("attention dump " + reader.path().string() + ": " +
                            dump::layer_group(static_cast<std::int64_t>(layer)) + "/" +
                            dump::kLayerAllowedKeys + ": shape is not [heads, queries]");
    }
  }

  const auto layer_count = static_cast<std::int64_t>(layers.size());
  for (std::int64_t sample = 0; sample < reader.samples(); ++sample) {
    for (std::int64_t a = 0; a < layer_count; ++a) {
      const auto& info_a = layers[static_cast<std::size_t>(a)];
      const auto maps_a = read_layer(reader, a, snapshot, sample, allowed[a]);
      for (std::int64_t b = a; b < layer_count; ++b) {
        const auto& info_b = layers[static_cast<std::size_t>(b)];
        if (info_a.query_length != info_b.query_length || info_a.key_length != info_b.key_length) {
          continue;
        }
        const LayerMaps maps_b =
            b == a ? LayerMaps{} : read_layer(reader, b, snapshot, sample, allowed[b]);
        const auto& second = b == a ? maps_a : maps_b;
        const auto keys = info_a.key_length;
        for (std::int64_t h1 = 0; h1 < info_a.heads; ++h1) {
          for (std::int64_t h2 = (b == a ? h1 + 1 : 0); h2 < info_b.heads; ++h2) {
            const auto& map_1 = maps_a.maps[h1];
            const auto& map_2 = second.maps[h2];
            double total = 0;
            std::int64_t valid = 0;
            for (std::int64_t i = 0; i < info_a.query_length; ++i) {
              if (map_1.allowed[i] < 1 || map_2.allowed[i] < 1) continue;
              total += js_from_parts(map_1.weights.data() + i * keys,
                                     map_2.weights.data() + i * keys, keys,
                                     maps_a.neg_entropy[h1][i], second.neg_entropy[h2][i]);
              ++valid;
            }
            const auto index =
                static_cast<std::size_t>((first_of_layer[a] + h1) * count + first_of_layer[b] + h2);
            sum[index] += total;
            rows[index] += valid;
          }
        }
      }
    }
    if (progress) progress(sample + 1, reader.samples());
  }

  similarity.distance.assign(static_cast<std::size_t>(count * count), kNaN);
  for (std::int64_t a = 0; a < count; ++a) {
    similarity.distance[static_cast<std::size_t>(a * count + a)] = 0.0;
    for (std::int64_t b = a + 1; b < count; ++b) {
      const auto index = static_cast<std::size_t>(a * count + b);
      if (rows[index] == 0) continue;
      const double value = sum[index] / static_cast<double>(rows[index]);
      similarity.distance[index] = value;
      similarity.distance[static_cast<std::size_t>(b * count + a)] = value;
    }
  }
  cluster_heads(similarity, kRedundantDistance);
  return similarity;
}

}  // namespace attnlab::heads
