// `attnlab analyze`: per-head specialisation of a run from its attention dump (head_analysis.h),
// with the redundant groups of heads (head_similarity.h) when the dump holds maps, and figures;
// then heads.csv, classes.csv, similarity.csv, analysis.h5 and figures/*.svg, each written
// atomically.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "analysis/heads/head_analysis.h"
#include "analysis/heads/head_figures.h"
#include "analysis/heads/head_similarity.h"
#include "dump/dump_reader.h"

namespace attnlab::heads {

struct AnalyzeRequest {
  std::filesystem::path dump;       // a run's attention.h5
  std::filesystem::path out;        // empty: <the dump's folder>/analysis
  std::string snapshot = "all";     // select_snapshots()
  bool figures = true;
};

struct DumpAnalysis {
  std::filesystem::path dump;
  std::vector<dump::LayerInfo> layers;
  HeadAnalysis heads;
  std::optional<HeadSimilarity> similarity;  // at the last selected snapshot; maps needed
  std::vector<Figure> figures;
  std::uint64_t map_bytes_read = 0;
  double seconds = 0.0;  // reading and analysing, similarity and figures included
};

// Tells `announce` what the dump holds and which snapshots it analyses, then analyses them with
// counters on the terminal. Throws dump::DumpError naming the file (and the dataset of a failed
// read), also for a snapshot choice the dump does not have, and std::out_of_range for a read
// outside the dump's layers or maps.
DumpAnalysis analyse_dump(const AnalyzeRequest& request,
                          const std::function<void(const std::string&)>& announce);

// The grid of labels, formation steps, redundant groups and the throughput of reading the maps.
std::string analysis_summary(const DumpAnalysis& analysis);

struct AnalysisFiles {
  std::vector<std::filesystem::path> files;  // CSVs and analysis.h5, in writing order
  std::size_t figures = 0;
  std::filesystem::path figure_dir;
};

// Writes the files into `out` (empty: <the dump's folder>/analysis). Throws attnlab::IoError.
AnalysisFiles write_dump_analysis(const DumpAnalysis& analysis, const std::filesystem::path& out);

}  // namespace attnlab::heads
