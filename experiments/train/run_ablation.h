// `attnlab ablate`: which attention heads a finished run needs (Michel et al. 2019, on top of
// head_ablation.h). Head importance over an evaluation split, the pruning curves (heads masked by
// increasing importance, 10% at a time; by decreasing importance as the baseline) and each head
// masked alone, then pruning.csv, pruning-reverse.csv, ablation.csv, pruning.svg and
// ablation.json in <run>/ablation (or another folder), each written atomically and only once
// every evaluation is done.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "experiments/train/head_ablation.h"

namespace attnlab::train {

inline constexpr const char* kAblationSummaryFile = "ablation.json";

struct AblateRequest {
  std::filesystem::path run;
  std::string split = "val";          // val or test
  std::string checkpoint = "best";    // best, latest or a file (find_checkpoint)
  std::filesystem::path out;          // empty: <run>/ablation
  std::int64_t examples = 0;          // the split's first N examples; 0: all of them
  std::vector<std::string> overrides;  // eval.* and runtime.* only
};

struct RunAblation {
  std::filesystem::path run;
  std::filesystem::path checkpoint;
  std::int64_t step = 0;
  std::string split;
  std::int64_t examples = 0;             // examples each evaluation runs
  std::filesystem::path out;             // where write_ablation() writes
  std::string config_toml;               // the resolved config, recorded in ablation.json
  std::vector<std::string> layer_kinds;  // "self" or "cross" per attention layer
  HeadAblation ablation;
};

// Checks every input before any work, so that nothing is read or written on bad input
// (config::ConfigError naming the option or override), loads the checkpoint, tells `announce`
// what it will evaluate (one line), then runs every evaluation with a progress line each on
// stderr (runtime.progress, as in training).
RunAblation ablate_run(const AblateRequest& request,
                       const std::function<void(const std::string&)>& announce);

// Writes the five files into the ablation's folder; returns their paths in writing order.
std::vector<std::filesystem::path> write_ablation(const RunAblation& result);

}  // namespace attnlab::train
