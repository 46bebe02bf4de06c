// `attnlab compare DIR...`: every run at or below some folders compared (comparison.h), its
// files written, by default into <DIR>/compare for one folder and ./compare for several.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace attnlab::analysis {

struct CompareRequest {
  std::vector<std::filesystem::path> dirs;  // run directories, or folders holding runs
  std::filesystem::path out;                // empty: the default above
};

struct CompareResult {
  std::string table;                          // for the terminal
  std::vector<std::filesystem::path> written;
};

// Throws std::invalid_argument naming a folder that does not exist or holds no run.
CompareResult compare_folders(const CompareRequest& request);

}  // namespace attnlab::analysis
