// Per-head specialisation of a run from its attention dump: for each selected snapshot, layer and
// head, the dump's own per-head statistics passed through, the map scores of map_metrics.h (maps
// read one (sample) map at a time, so memory holds one map whatever the dump size) and a label.
//
// N = complete snapshots, L = attention layers, H = heads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dump/dump_reader.h"
#include "analysis/heads/head_classes.h"

namespace attnlab::heads {

struct HeadResult {
  std::int64_t snapshot = 0;  // index into the dump's complete snapshots
  std::int64_t step = 0;
  std::int64_t layer = 0;
  std::int64_t head = 0;
  std::vector<double> values;  // aligned with HeadAnalysis::metric_names
  HeadScores scores;
  Classification classification;
};

struct HeadAnalysis {
  std::vector<std::string> metric_names;
  // Aligned with metric_names: computed on A as stored whatever the map kind (the dump's
  // output norms, importances and row masses); the others are on the analysed map
  // (analysed_map.h), which is A itself for a distribution.
  std::vector<bool> metric_of_raw_map;
  std::vector<std::string> map_kinds;   // [L] each layer's map kind (dump::kMapKinds)
  std::vector<HeadResult> heads;        // by snapshot, then layer, then head
  std::vector<std::int64_t> snapshots;  // the selected snapshot indices, ascending

  // What metric `metric` of layer `layer` was computed on (dump::kBasis*).
  const char* metric_basis(std::size_t metric, std::int64_t layer) const;
};

// "all", "last", or a snapshot index (0-based, as in the CSVs; negative counts from the end).
// Throws std::invalid_argument naming the choices when the spec is not one of them.
std::vector<std::int64_t> select_snapshots(const std::string& spec, std::int64_t snapshots);

// Told how much of a long pass is done (for a progress bar): done of total units.
using ProgressCallback = std::function<void(std::int64_t done, std::int64_t total)>;

// Throws dump::DumpError (naming the file and dataset) when a read fails. progress: once per head
// and snapshot.
HeadAnalysis analyse_heads(const dump::DumpReader& reader,
                           const std::vector<std::int64_t>& snapshots,
                           const ProgressCallback& progress = {});

}  // namespace attnlab::heads
