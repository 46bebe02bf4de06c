#include "analysis/heads/dump_analysis.h"

#include <chrono>
#include <stdexcept>

#include <fmt/core.h>

#include "analysis/heads/analysis_file.h"
#include "analysis/heads/head_report.h"
#include "base/atomic_file.h"
#include "base/progress.h"
#include "base/run_outputs.h"

namespace attnlab::heads {
namespace {

// A choice the dump cannot satisfy is reported like an unreadable dump: naming the file.
std::vector<std::int64_t> chosen_snapshots(const AnalyzeRequest& request,
                                           const dump::DumpReader& reader) {
  try {
    return select_snapshots(request.snapshot, reader.snapshots());
  } catch (const std::invalid_argument& error) {
    throw dump::DumpError(request.dump.string() + ": " + error.what());
  }
}

std::string dump_description(const dump::DumpReader& reader,
                             const std::vector<std::int64_t>& snapshots) {
  std::string text = fmt::format(
      "attention dump {}: {} layers, {} samples, {} of {} snapshots (steps {}..{})\n",
      reader.path().string(), reader.layers().size(), reader.samples(), snapshots.size(),
      reader.snapshots(), reader.steps()[static_cast<std::size_t>(snapshots.front())],
      reader.steps()[static_cast<std::size_t>(snapshots.back())]);
  if (!reader.has_maps()) text += "recorded without maps: scores from the file's statistics only\n";
  return text;
}

// analysis.h5 is written by HDF5 itself: into a temporary next to it, then fsync and rename.
void write_analysis_h5(const DumpAnalysis& analysis, const std::filesystem::path& path) {
  const auto temporary = attnlab::temporary_path_for(path);
  try {
    write_analysis_file(temporary, analysis.heads,
                        analysis.similarity ? &*analysis.similarity : nullptr, analysis.layers,
                        analysis.dump);
  } catch (const dump::DumpError& failure) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw attnlab::IoError(failure.what());
  }
  attnlab::commit_file(temporary, path);
}

}  // namespace

DumpAnalysis analyse_dump(const AnalyzeRequest& request,
                          const std::function<void(const std::string&)>& announce) {
  const auto start = std::chrono::steady_clock::now();
  const dump::DumpReader reader(request.dump);
  const auto snapshots = chosen_snapshots(request, reader);
  DumpAnalysis analysis;
  analysis.dump = request.dump;
  analysis.layers = reader.layers();
  announce(dump_description(reader, snapshots));
  analysis.heads = analyse_heads(reader, snapshots, attnlab::terminal_counter("heads"));
  if (reader.has_maps()) {
    analysis.similarity = head_similarity(reader, snapshots.back(),
                                          attnlab::terminal_counter("similarity, samples"));
  }
  if (request.figures) {
    const auto* similarity = analysis.similarity ? &*analysis.similarity : nullptr;
    analysis.figures = head_figures(analysis.heads, similarity, reader);
  }
  analysis.map_bytes_read = reader.map_bytes_read();
  analysis.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return analysis;
}

std::string analysis_summary(const DumpAnalysis& analysis) {
  std::string text = summary_text(analysis.heads, analysis.layers);
  if (analysis.similarity) text += similarity_text(*analysis.similarity);
  if (analysis.map_bytes_read > 0) {
    const auto megabytes = static_cast<double>(analysis.map_bytes_read) / 1e6;
    text += fmt::format(
        "read {:.1f} MB of stored maps in {:.2f} s ({:.1f} MB/s, similarity included)\n",
        megabytes, analysis.seconds, megabytes / analysis.seconds);
  }
  return text;
}

AnalysisFiles write_dump_analysis(const DumpAnalysis& analysis, const std::filesystem::path& out) {
  const auto folder = out.empty() ? analysis.dump.parent_path() / attnlab::kAnalysisFolder : out;
  AnalysisFiles written{{folder / kHeadsFile, folder / kClassesFile}, analysis.figures.size(),
                        folder / "figures"};
  std::error_code error;
  std::filesystem::create_directories(analysis.figures.empty() ? folder : written.figure_dir,
                                      error);
  if (error) throw attnlab::IoError("cannot create " + folder.string() + ": " + error.message());
  attnlab::write_file_atomic(written.files[0], heads_csv(analysis.heads));
  attnlab::write_file_atomic(written.files[1], classes_csv(analysis.heads));
  if (analysis.similarity) {
    written.files.push_back(folder / kSimilarityFile);
    attnlab::write_file_atomic(written.files.back(), similarity_csv(*analysis.similarity));
  }
  written.files.push_back(folder / kAnalysisFile);
  write_analysis_h5(analysis, written.files.back());
  for (const auto& figure : analysis.figures) {
    attnlab::write_file_atomic(written.figure_dir / figure.file, figure.svg);
  }
  return written;
}

}  // namespace attnlab::heads
