// `attnlab compare DIR...`: every run at or below some folders compared (comparison.h), and with
// --tune each group tuned over some keys (tuning.h), its files written, by default into
// <DIR>/compare for one folder and ./compare for several.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "analysis/compare/tuning.h"

namespace attnlab::analysis {

struct CompareRequest {
  std::vector<std::filesystem::path> dirs;  // run directories, or folders holding runs
  std::filesystem::path out;                // empty: the default above
  TuneRequest tune;                         // no keys: the plain comparison only
};

struct CompareResult {
  std::string table;                          // for the terminal
  std::vector<std::filesystem::path> written;
};

// Throws std::invalid_argument, before writing anything, naming a folder that does not exist or
// holds no run, or a bad tuning request (tune_comparison).
CompareResult compare_folders(const CompareRequest& request);

}  // namespace attnlab::analysis
