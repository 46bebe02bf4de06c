// The figures of `attnlab analyze` (SVG, written under <out>/figures/):
//   grid_<label>.svg       layers x heads grid of the score behind <label> at the last snapshot
//   map_<label>.svg        the attention map (probe sample 0, last snapshot) of the most typical
//                          head of each label present: the head with that label and the highest
//                          score; maps longer than 128 positions are block-averaged
//   evolution_<label>.svg  each head's score over the snapshots, threshold dashed (>= 2 snapshots;
//                          the 12 heads with the highest final score when there are more)
//   similarity.svg         Jensen-Shannon distances between heads in dendrogram order
#pragma once

#include <string>
#include <vector>

#include "dump/dump_reader.h"
#include "analysis/heads/head_analysis.h"
#include "analysis/heads/head_similarity.h"

namespace attnlab::heads {

struct Figure {
  std::string file;  // name inside the figures folder
  std::string svg;
};

// similarity may be null (no maps). Reads one map per typical head from `reader`.
std::vector<Figure> head_figures(const HeadAnalysis& analysis, const HeadSimilarity* similarity,
                                 const dump::DumpReader& reader);

// "L<layer>H<head>", the short name figures and similarity.csv use for a head.
std::string head_name(std::int64_t layer, std::int64_t head);

}  // namespace attnlab::heads
