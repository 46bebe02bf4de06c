// analysis.h5: what `attnlab analyze` found, as arrays (h5py / pandas friendly; every dataset has
// "dims" and "doc" attributes). N = analysed snapshots, L = layers, H = the largest head count
// (absent heads are NaN / -1), M = metrics, K = heads compared for similarity (L x H order).
//
//   attrs: schema = "attnlab-analysis", schema_version, dump (the analysed file), similarity_step
//   /steps           [N] int64       training step of each analysed snapshot
//   /snapshots       [N] int64       their index in the dump's complete snapshots
//   /metric_names    [M] str         the names of heads.csv
//   /metric_of_raw_map [M] int8      1: computed on A as stored whatever the map kind; 0: on the
//                                    layer's analysed map (heads.csv's computed_on)
//   /metrics         [N,L,H,M] f64   heads.csv as an array (gzip)
//   /map_kinds       [L] str         each layer's map kind (distribution, partial, ...)
//   /map_bases       [L] str         what its map scores and labels are on: map (A as stored) or
//                                    normalised_abs_map (|A_ij| / sum_l |A_il|)
//   /label_names     [9] str         induction, duplicate, previous, next, self, broad, sink, local, mixed
//   /labels          [N,L,H] int8    index into label_names (classes.csv), -1: no such head
//   /label_scores    [N,L,H] f64     the score behind each label
//   /similarity/heads     [K,2] int64  (layer, head) of each compared head
//   /similarity/distance  [K,K] f64    mean Jensen-Shannon divergence per query row (NaN: shapes differ)
//   /similarity/linkage   [K-1,4] f64  average-linkage merges, scipy.cluster.hierarchy format
//   /similarity/order     [K] int64    dendrogram leaf order
//   /similarity/group     [K] int64    redundant group, -1 for none
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "dump/dump_reader.h"
#include "analysis/heads/head_analysis.h"
#include "analysis/heads/head_similarity.h"

namespace attnlab::heads {

inline constexpr const char* kAnalysisFile = "analysis.h5";
inline constexpr const char* kAnalysisSchema = "attnlab-analysis";
inline constexpr std::int64_t kAnalysisSchemaVersion = 1;

// Writes (truncating) `path`; similarity may be null. Throws dump::DumpError on failure.
void write_analysis_file(const std::filesystem::path& path, const HeadAnalysis& analysis,
                         const HeadSimilarity* similarity,
                         const std::vector<dump::LayerInfo>& layers,
                         const std::filesystem::path& dump_path);

}  // namespace attnlab::heads
