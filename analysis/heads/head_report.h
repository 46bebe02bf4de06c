// The files and terminal summary of `attnlab analyze`: heads.csv (long format, one row per
// snapshot, layer, head and metric), classes.csv (one label per head and snapshot), similarity.csv
// (head-to-head distances at one snapshot), and a text
// summary: a layers x heads grid of labels at the last selected snapshot and, per head, the first
// step at which its score crossed its label's threshold (when the head formed). Every row of the
// CSVs of heads names its layer's map kind and what the value was computed on (dump::kBasis*:
// A as stored, or |A| row-normalised; analysed_map.h), and the summary says it of every layer
// whose maps are not distributions.
#pragma once

#include <string>
#include <vector>

#include "dump/dump_reader.h"
#include "analysis/heads/head_analysis.h"
#include "analysis/heads/head_similarity.h"

namespace attnlab::heads {

inline constexpr const char* kHeadsFile = "heads.csv";
inline constexpr const char* kClassesFile = "classes.csv";
inline constexpr const char* kSimilarityFile = "similarity.csv";

// snapshot,step,layer,head,metric,value,map_kind,computed_on
std::string heads_csv(const HeadAnalysis& analysis);
// snapshot,step,layer,head,label,score,map_kind,computed_on
std::string classes_csv(const HeadAnalysis& analysis);

// Every ordered pair of heads (K x K rows, pandas: pivot to a matrix):
// snapshot,step,layer_a,head_a,layer_b,head_b,distance,group_a,group_b (group -1: none).
std::string similarity_csv(const HeadSimilarity& similarity);
// The redundant groups, one line each, with their members and mean internal distance.
std::string similarity_text(const HeadSimilarity& similarity);

std::string summary_text(const HeadAnalysis& analysis, const std::vector<dump::LayerInfo>& layers);

}  // namespace attnlab::heads
