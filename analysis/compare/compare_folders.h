// `attnlab compare DIR...`: every run at or below some folders compared (comparison.h), with their
// test accuracy by evaluated length where runs were evaluated at other lengths
// (length_generalisation.h), with --tune each group tuned over some keys (tuning.h), with
// --induction-timing when each run's induction heads formed (induction_timing.h); the files
// written, by default into <DIR>/compare for one folder and ./compare for several.
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
  bool induction_timing = false;            // also induction_timing.h's table, CSV and figure
};

struct CompareResult {
  std::string table;                          // for the terminal
  std::vector<std::filesystem::path> written;
};

// Throws std::invalid_argument, before writing anything, naming a folder that does not exist or
// holds no run, a bad tuning request (tune_comparison), or with induction_timing a finished run
// without icl_score or a dump with maps (run_timing); dump::DumpError for a dump it cannot read.
CompareResult compare_folders(const CompareRequest& request);

}  // namespace attnlab::analysis
