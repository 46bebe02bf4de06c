// The data behind `attnlab report`: everything the HTML report and its static figures show,
// gathered from a sweep, a folder of runs, one run, an analysis output or a probe folder, as one
// JSON document.
// analysis/report/web/build_report.mjs turns it into report.html and the figures; the web code
// reads nothing else. Reads files only (no LibTorch).
//
// The document (schema "attnlab-report", version 1). NaN and missing numbers are null.
//
//   schema, version, title, kind ("sweep" | "runs" | "run" | "analysis" | "probe": a folder of
//   `attnlab probe`), source (DIR),
//   created (ISO 8601, UTC), attnlab_version, maps_mode ("none" | "selected" | "all"), map_size
//   comparison: null | {
//     varying_keys: [str], metrics: [{name, higher_is_better}],
//     groups: [{label, task, rank, runs (completed runs), keys: {key: value},
//               metrics: {name: {n, mean, std, ci95, min, max}}}],      // ci95 = half-width
//     not_completed: [{dir, status}] }
//   curves: [{group, task, run, seed, step, accuracy, loss}]   // validation points, completed runs
//   lengths: [{task, group, trained_length, length, n, skipped, mean, std}]  // test accuracy by
//                                            // evaluated length (eval-test.json), per group
//   bench_attention: null | {source, rows: [{column: number | string}]}  // bench attention CSV
//   skipped_dumps: [str]                     // dumps of unfinished runs that could not be read
//   runs: [{                                  // runs with an attention dump, in path order
//     name (relative to DIR, "." for DIR itself), dir, group (comparison label or null), task,
//     variant, seed, dump (path),
//     steps: [N] (training step of each complete snapshot), probe_loss: [N],
//     layers: [{index, kind, role, causal, heads, query_length, key_length,
//               map_kind (distribution | partial | unnormalised | signed),
//               statistics_on (map | normalised_abs_map: what the map statistics and labels
//                              describe, A as stored or |A_ij| / sum_l |A_il|)}],
//     heads (largest H),
//     statistics: {name: [N][L][H]}           // per-head statistics of the dump (null: no head)
//     labels: null | {steps: [n], label: [n][L][H] (str), score: [n][L][H]}  // analyze's classes
//     similarity: null | {step, heads: [[layer, head]], order: [K], group: [K], distance: [K][K]}
//     pruning: null | {increasing: [{fraction, heads_masked, accuracy, loss}], decreasing: [...]}
//     maps: null | {
//       snapshots: [S] (indices into steps), samples: [B'] (probe sample indices),
//       tokens: [B'][Tq] (ids; text for a probe of the user's inputs),
//       source: null | [B'][Ts] (encoder inputs),
//       layers: [{layer, query_length, key_length, rows, cols, block,  // block: cell = block x block
//                 values ("A", or "|A|" for a signed map),
//                 scale: [S][B'][H],                                    // largest weight of each map
//                 data: base64 of uint8 [S][B'][H][rows][cols]}] },  // weight = q / 255 * scale
//     token_context: null | {...} (token_context_data.h: one token's contexts, probe --token) }]
//
// Maps are the selected snapshots only, 8-bit (relative to each map's largest weight), and
// averaged over block x block cells when a side is longer than map_size: the report states both.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace attnlab::report {

inline constexpr const char* kReportSchema = "attnlab-report";
inline constexpr int kReportSchemaVersion = 1;

enum class MapsMode { None, Selected, All };
// Throws std::invalid_argument naming the choices.
MapsMode parse_maps_mode(const std::string& text);
std::string maps_mode_name(MapsMode mode);

struct ReportRequest {
  std::filesystem::path dir;                      // a sweep, folder of runs, run or analysis output
  std::vector<std::filesystem::path> with_runs;   // more runs for the explorer (--with)
  std::filesystem::path bench_csv;                // bench attention CSV (default: looked for)
  MapsMode maps = MapsMode::Selected;
  std::string snapshots = "last";                 // for --maps selected: last | first,last | i,j,...
  std::int64_t samples = 2;                       // probe samples per map set
  std::int64_t map_size = 256;                    // longest stored side before block-averaging
  double max_map_mb = 100.0;                      // refuse (exit 2) when the maps would take
                                                  // more of the page (MB, base64); at most 300
  std::string attnlab_version;                    // recorded in the document
};

// Told how many of the maps to store have been read (for a progress bar).
using ReportProgress = std::function<void(std::int64_t done, std::int64_t total)>;

// Throws std::invalid_argument (naming the path or option) for a DIR that is none of the four
// kinds, a bad option, or a CSV file that cannot be read, and dump::DumpError (naming the file
// and dataset) for an unreadable dump or analysis.h5.
nlohmann::json gather_report_data(const ReportRequest& request,
                                  const ReportProgress& progress = {});

// Block means of a row-major [rows, cols] map over block x block cells (the last cells may be
// partial), then 8-bit: q = round(255 * value / largest). Returns the largest value (0 for an
// all-zero map) and appends the codes to `out`.
float quantise_map(const std::vector<float>& map, std::int64_t rows, std::int64_t cols,
                   std::int64_t block, std::vector<std::uint8_t>& out);

std::string base64(const std::vector<std::uint8_t>& bytes);

}  // namespace attnlab::report
