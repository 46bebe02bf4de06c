// Where the offline commands put their results inside a run folder by default, and the names of
// the files other commands read back (`attnlab report` finds analyze's and ablate's results
// through these).
#pragma once

namespace attnlab {

inline constexpr const char* kAnalysisFolder = "analysis";  // attnlab analyze: <run>/analysis/
inline constexpr const char* kAblationFolder = "ablation";  // attnlab ablate: <run>/ablation/
inline constexpr const char* kPruningFile = "pruning.csv";  // by increasing importance
inline constexpr const char* kPruningReverseFile = "pruning-reverse.csv";  // decreasing

}  // namespace attnlab
