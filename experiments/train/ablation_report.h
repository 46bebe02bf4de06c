// The files and terminal tables of `attnlab ablate` (experiments/train/head_ablation.h):
// - pruning.csv / pruning-reverse.csv: one row per point of the pruning curve, masking by
//   increasing (resp. decreasing) importance:
//   fraction,heads_masked,loss,accuracy,sequence_accuracy,<the task's extra metrics...>
// - ablation.csv: one row per head, layer by layer: layer,head,importance,importance_normalised,
//   loss,accuracy,delta_loss,delta_accuracy (delta = masked alone - nothing masked);
// - pruning.svg: accuracy and loss against the fraction of heads masked, both orders.
// Numbers are the shortest text that reads back to the same double, NaN as "nan" (pandas reads
// both); a header row, no index column.
#pragma once

#include <string>
#include <vector>

#include "base/run_outputs.h"
#include "experiments/train/head_ablation.h"

namespace attnlab::train {

using attnlab::kPruningFile;
using attnlab::kPruningReverseFile;
inline constexpr const char* kAblationFile = "ablation.csv";
inline constexpr const char* kPruningFigure = "pruning.svg";

std::string pruning_csv(const std::vector<PruningPoint>& curve);
std::string ablation_csv(const HeadAblation& ablation);
std::string pruning_svg(const HeadAblation& ablation, const std::string& title);

// Heads by increasing importance (the pruning order; the middle of a long list elided) with their
// single-head deltas, then the pruning curve of both orders. `layer_kinds`: "self" or "cross" per
// attention layer.
std::string ablation_summary(const HeadAblation& ablation,
                             const std::vector<std::string>& layer_kinds);

}  // namespace attnlab::train
