// How alike the heads of one snapshot attend: the Jensen-Shannon divergence between every pair of
// heads over the probe's query rows (Clark et al. 2019), an average-linkage (UPGMA) clustering of
// that matrix, and the groups of redundant heads it implies (threshold: head_thresholds.h).
//
// Distance: d(h1, h2) = mean over samples and query rows valid in both heads of
//   JS(p', q') = 1/2 KL(p' || m) + 1/2 KL(q' || m),  m = (p' + q') / 2,  natural log,
// with p' the smoothed row (kJsSmoothing) of the analysed map (analysed_map.h: A for a
// distribution, |A| row-normalised for any other map kind; a row without mass is not compared).
// Clark et al. sum instead of averaging; the mean is the sum divided by the row count and stays
// in [0, ln 2] whatever the probe size. Heads whose maps
// have different shapes (a cross-attention layer over a source of another length) are not
// compared: NaN, and ln 2 (the maximum) for the clustering.
//
// Maps are read two layers at a time per sample: memory is 2 x heads x Tq x Tk floats.
// K = number of heads (every layer's).
#pragma once

#include <cstdint>
#include <vector>

#include "dump/dump_reader.h"
#include "analysis/heads/head_analysis.h"

namespace attnlab::heads {

struct HeadId {
  std::int64_t layer = 0;
  std::int64_t head = 0;
};

// One merge of the clustering, in scipy.cluster.hierarchy's linkage format: clusters 0..K-1 are the
// heads, merge s creates cluster K+s.
struct Merge {
  std::int64_t first = 0, second = 0;  // first < second
  double distance = 0;                 // average distance between the two clusters' heads
  std::int64_t size = 0;               // heads in the new cluster
};

struct HeadSimilarity {
  std::int64_t snapshot = 0;
  std::int64_t step = 0;
  std::vector<HeadId> heads;         // [K], by layer then head
  std::vector<double> distance;      // [K*K] row-major, symmetric, 0 on the diagonal
  std::vector<Merge> merges;         // [K-1]
  std::vector<std::int64_t> order;   // [K] heads in dendrogram order (similar heads adjacent)
  std::vector<std::int64_t> group;   // [K] redundant group (0, 1, ...), -1 when alone

  std::int64_t size() const { return static_cast<std::int64_t>(heads.size()); }
  double at(std::int64_t first, std::int64_t second) const {
    return distance[static_cast<std::size_t>(first * size() + second)];
  }
};

// Jensen-Shannon divergence of two smoothed rows of `keys` weights (natural log).
double js_divergence(const float* first, const float* second, std::int64_t keys);

// Average-linkage clustering of a K x K distance matrix (NaN counts as ln 2): merges, leaf order
// and groups of clusters formed at distance <= threshold.
void cluster_heads(HeadSimilarity& similarity, double threshold);

// Throws dump::DumpError when the dump has no maps or a read fails. progress: once per sample.
HeadSimilarity head_similarity(const dump::DumpReader& reader, std::int64_t snapshot,
                               const ProgressCallback& progress = {});

}  // namespace attnlab::heads
