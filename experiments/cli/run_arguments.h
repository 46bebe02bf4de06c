// What the commands acting on a finished run (eval, ablate, export) share: the --run and
// --checkpoint options, the rule that only eval.* and runtime.* keys may be overridden (the model
// and task are the run's), and evaluation metrics as JSON.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "experiments/train/evaluate.h"

namespace attnlab::cli {

void add_run_options(CLI::App& command, std::filesystem::path& run, std::string& checkpoint);

// Throws config::ConfigError naming the first override outside eval.* and runtime.*.
void check_run_overrides(const std::vector<std::string>& overrides, const std::string& command);

nlohmann::json metrics_json(const train::EvalMetrics& metrics);

}  // namespace attnlab::cli
