#include "analysis/report/report_data.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <map>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "analysis/compare/comparison.h"
#include "analysis/compare/length_generalisation.h"
#include "dump/dump_reader.h"
#include "analysis/heads/analysis_file.h"
#include "analysis/heads/head_analysis.h"
#include "analysis/heads/head_report.h"
#include "analysis/report/csv_table.h"
#include "analysis/report/token_context_data.h"
#include "base/run_outputs.h"

namespace attnlab::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using attnlab::kAblationFolder;
using attnlab::kAnalysisFolder;

constexpr const char* kManifestFile = "manifest.jsonl";  // a sweep folder's job list
constexpr const char* kConfigFile = "config.toml";       // every run folder has one
// The libraries (about 0.9 MB) and page code are inlined as well; this bounds the maps' share.
// Node reads the document as one string, and V8 strings end at 2^29 characters.
constexpr double kLargestMapMegabytes = 300.0;

// What DIR holds, and so which parts the report has.
enum class Kind { Sweep, Runs, Run, Analysis, Probe };

json number(double value) { return std::isfinite(value) ? json(value) : json(nullptr); }

std::string kind_name(Kind kind) {
  switch (kind) {
    case Kind::Sweep: return "sweep";
    case Kind::Runs: return "runs";
    case Kind::Run: return "run";
    case Kind::Analysis: return "analysis";
    case Kind::Probe: return "probe";
  }
  return "runs";
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

// A run's name as the report shows it: its path below DIR, "." for DIR itself, or its folder's
// name for a run outside DIR (--with; run folders are named by time and hash, or by a sweep's
// job number and overrides, so the name alone tells it apart).
std::string run_name(const fs::path& dir, const fs::path& root) {
  const auto canonical_dir = fs::weakly_canonical(dir);
  const auto relative = canonical_dir.lexically_relative(fs::weakly_canonical(root));
  if (relative.empty() || *relative.begin() == "..") return canonical_dir.filename().string();
  return relative.string();
}

// --- comparison and learning curves -------------------------------------------------------

// One seed has no spread: std and ci95 are null then, not 0, so no chart shows a zero-width
// interval as if it were certain.
json summary_json(const analysis::Summary& summary) {
  if (summary.n == 0) return nullptr;
  const bool spread = summary.n >= 2;
  return {{"n", summary.n},
          {"mean", number(summary.mean)},
          {"std", spread ? number(summary.std) : json(nullptr)},
          {"ci95", spread ? number(summary.ci95) : json(nullptr)},
          {"min", number(summary.min)},
          {"max", number(summary.max)}};
}

json comparison_json(const analysis::Comparison& comparison, const fs::path& root) {
  json metrics = json::array();
  for (const auto& spec : analysis::compared_metrics()) {
    metrics.push_back({{"name", spec.name}, {"higher_is_better", spec.higher_is_better}});
  }
  json groups = json::array();
  for (const auto& group : comparison.groups) {
    json values = json::object();
    for (const auto& [name, summary] : group.metrics) values[name] = summary_json(summary);
    groups.push_back({{"label", group.label},
                      {"task", group.task},
                      {"rank", group.rank},
                      {"runs", group.runs.size()},
                      {"keys", group.keys},
                      {"metrics", values}});
  }
  json not_completed = json::array();
  for (const auto* run : comparison.not_completed) {
    not_completed.push_back({{"dir", run_name(run->dir, root)}, {"status", run->status}});
  }
  return {{"varying_keys", comparison.varying_keys},
          {"metrics", metrics},
          {"groups", groups},
          {"not_completed", not_completed}};
}

// One row per group and evaluated length (compare's length generalisation).
json lengths_json(const std::vector<analysis::GroupLengths>& groups) {
  json rows = json::array();
  for (const auto& group : groups) {
    for (const auto& score : group.lengths) {
      const bool scored = score.accuracy.n > 0;
      rows.push_back({{"task", group.task},
                      {"group", group.label},
                      {"trained_length", group.trained_length},
                      {"length", score.length},
                      {"n", score.accuracy.n},
                      {"skipped", score.skipped},
                      {"mean", scored ? number(score.accuracy.mean) : json(nullptr)},
                      {"std", scored ? number(score.accuracy.std) : json(nullptr)}});
    }
  }
  return rows;
}

json seed_of(const analysis::RunResult& run) {
  const auto& text = run.config_value("seed");
  if (text.empty()) return nullptr;
  try {
    return std::stoll(text);
  } catch (const std::exception&) {
    return text;
  }
}

void append_curve(const analysis::RunResult& run, const std::string& group,
                  const fs::path& root, json& curves) {
  for (const auto& point : run.val_curve) {
    curves.push_back({{"group", group},
                      {"task", run.config_value("task.name")},
                      {"run", run_name(run.dir, root)},
                      {"seed", seed_of(run)},
                      {"step", point.step},
                      {"accuracy", number(point.accuracy)},
                      {"loss", number(point.loss)}});
  }
}

// --- per-run dump data --------------------------------------------------------------------

// Where a report finds one run's dump and what analyze and ablate made of it.
struct DumpRun {
  fs::path run_dir;       // the run's folder (the dump's parent)
  fs::path dump;          // its attention.h5
  fs::path analysis_dir;  // classes.csv, analysis.h5 (may not exist)
  std::string group;      // the comparison group label, "" when not compared
  bool completed = true;  // false: a run of a sweep still training (its dump may be locked)
};

// A whole numeric dataset of an HDF5 file, read as `memory_type` into T.
template <typename T>
std::vector<T> read_numeric(hid_t file, const std::string& path, hid_t memory_type,
                            const std::string& context) {
  const auto dataset = dump::open_dataset(file, path, context);
  std::size_t count = 1;
  for (const auto dim : dump::dataset_dims(dataset.get(), context + ": " + path)) count *= dim;
  std::vector<T> values(count);
  dump::check_status(
      H5Dread(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
      context + ": " + path);
  return values;
}

// analyze's analysis.h5, checked to be one (a foreign or newer file is named, not misread).
dump::Handle open_analysis_file(const fs::path& path) {
  const dump::QuietErrors quiet;
  dump::Handle file(
      dump::check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path.string()), H5Fclose);
  const auto context = path.string();
  if (!dump::has_attribute(file.get(), "schema") ||
      dump::read_string_attribute(file.get(), "schema", context) != heads::kAnalysisSchema ||
      dump::read_int_attribute(file.get(), "schema_version", context) >
          heads::kAnalysisSchemaVersion) {
    throw std::invalid_argument(context + ": not an analysis file of this attnlab version "
                                "(schema attnlab-analysis, version " +
                                std::to_string(heads::kAnalysisSchemaVersion) + ")");
  }
  return file;
}

// analyze's similarity of the last analysed snapshot, from analysis.h5 (the only file that keeps
// the cluster order); null when the analysis has none.
json similarity_json(const fs::path& analysis_file) {
  if (!fs::exists(analysis_file)) return nullptr;
  const auto context = analysis_file.string();
  const auto file = open_analysis_file(analysis_file);
  const dump::QuietErrors quiet;
  if (!dump::link_exists(file.get(), "similarity/distance")) return nullptr;
  const auto heads = read_numeric<std::int64_t>(file.get(), "similarity/heads", H5T_NATIVE_INT64,
                                                context);
  const auto distance =
      read_numeric<double>(file.get(), "similarity/distance", H5T_NATIVE_DOUBLE, context);
  const auto order =
      read_numeric<std::int64_t>(file.get(), "similarity/order", H5T_NATIVE_INT64, context);
  const auto group =
      read_numeric<std::int64_t>(file.get(), "similarity/group", H5T_NATIVE_INT64, context);
  const std::size_t count = order.size();
  if (heads.size() != 2 * count || distance.size() != count * count || group.size() != count) {
    throw std::invalid_argument(context + ": similarity datasets disagree on the head count");
  }
  const auto similarity_group = dump::open_group(file.get(), "similarity", context);
  json head_pairs = json::array();
  for (std::size_t k = 0; k < count; ++k) head_pairs.push_back({heads[2 * k], heads[2 * k + 1]});
  json matrix = json::array();
  for (std::size_t a = 0; a < count; ++a) {
    json row = json::array();
    for (std::size_t b = 0; b < count; ++b) row.push_back(number(distance[a * count + b]));
    matrix.push_back(row);
  }
  return {{"step", dump::read_int_attribute(similarity_group.get(), "step", context)},
          {"heads", head_pairs},
          {"order", order},
          {"group", group},
          {"distance", matrix}};
}

// analyze's labels (classes.csv) as [snapshot][layer][head]; null without an analysis.
json labels_json(const fs::path& classes_file, std::size_t layers, std::int64_t heads) {
  if (!fs::exists(classes_file)) return nullptr;
  const auto table = CsvTable::read(classes_file);
  const auto step_column = table.require_column("step");
  const auto layer_column = table.require_column("layer");
  const auto head_column = table.require_column("head");
  const auto label_column = table.require_column("label");
  const auto score_column = table.require_column("score");
  std::set<std::int64_t> steps;
  for (std::size_t row = 0; row < table.rows(); ++row) steps.insert(table.integer(row, step_column));
  const std::vector<std::int64_t> ordered(steps.begin(), steps.end());
  const json empty_layer(static_cast<std::size_t>(heads), nullptr);
  json label(ordered.size(), json(layers, empty_layer));
  json score = label;
  for (std::size_t row = 0; row < table.rows(); ++row) {
    const auto step = table.integer(row, step_column);
    const auto snapshot = static_cast<std::size_t>(
        std::lower_bound(ordered.begin(), ordered.end(), step) - ordered.begin());
    const auto layer = table.integer(row, layer_column);
    const auto head = table.integer(row, head_column);
    if (layer < 0 || layer >= static_cast<std::int64_t>(layers) || head < 0 || head >= heads) {
      throw std::invalid_argument(classes_file.string() + ": layer " + table.field(row, layer_column) +
                                  ", head " + table.field(row, head_column) +
                                  " is not a head of the dump");
    }
    const auto l = static_cast<std::size_t>(layer);
    const auto h = static_cast<std::size_t>(head);
    label[snapshot][l][h] = table.field(row, label_column);
    score[snapshot][l][h] = number(table.number(row, score_column));
  }
  return {{"steps", ordered}, {"label", label}, {"score", score}};
}

json pruning_curve(const fs::path& file) {
  const auto table = CsvTable::read(file);
  const auto fraction = table.require_column("fraction");
  const auto masked = table.require_column("heads_masked");
  const auto accuracy = table.require_column("accuracy");
  const auto loss = table.require_column("loss");
  json points = json::array();
  for (std::size_t row = 0; row < table.rows(); ++row) {
    points.push_back({{"fraction", number(table.number(row, fraction))},
                      {"heads_masked", number(table.number(row, masked))},
                      {"accuracy", number(table.number(row, accuracy))},
                      {"loss", number(table.number(row, loss))}});
  }
  return points;
}

// ablate's pruning curves (increasing importance, and the decreasing baseline); null without.
json pruning_json(const fs::path& ablation_dir) {
  const auto increasing = ablation_dir / attnlab::kPruningFile;
  const auto decreasing = ablation_dir / attnlab::kPruningReverseFile;
  if (!fs::exists(increasing)) return nullptr;
  return {{"increasing", pruning_curve(increasing)},
          {"decreasing", fs::exists(decreasing) ? pruning_curve(decreasing) : json::array()}};
}

// The dump's per-head statistics as {name: [N][L][H]}, heads a layer lacks as null.
json statistics_json(const dump::DumpReader& reader) {
  json statistics = json::object();
  const auto& layers = reader.layers();
  const auto snapshots = static_cast<std::size_t>(reader.snapshots());
  for (const auto& statistic : dump::kStatistics) {
    if (statistic.shape != dump::StatisticShape::Head) continue;
    const std::string name = statistic.name;
    bool present = false;
    for (std::size_t l = 0; l < layers.size(); ++l) {
      present = present || reader.has(dump::layer_group(static_cast<std::int64_t>(l)) + "/" + name);
    }
    if (!present) continue;
    json values(snapshots, json(layers.size(), json(static_cast<std::size_t>(reader.heads()),
                                                    nullptr)));
    for (std::size_t l = 0; l < layers.size(); ++l) {
      if (!reader.has(dump::layer_group(static_cast<std::int64_t>(l)) + "/" + name)) continue;
      const auto array = reader.statistic(static_cast<std::int64_t>(l), name);  // [N,H]
      const auto heads = static_cast<std::size_t>(array.shape.at(1));
      for (std::size_t n = 0; n < snapshots; ++n) {
        for (std::size_t h = 0; h < heads; ++h) values[n][l][h] = number(array.values[n * heads + h]);
      }
    }
    statistics[name] = values;
  }
  return statistics;
}

// "last", "first", "all", an index, or a comma list of them -> ascending distinct indices.
std::vector<std::int64_t> report_snapshots(const std::string& spec, std::int64_t snapshots) {
  std::set<std::int64_t> chosen;
  std::size_t start = 0;
  while (start <= spec.size()) {
    const auto comma = spec.find(',', start);
    const auto item = spec.substr(start, comma == std::string::npos ? std::string::npos
                                                                     : comma - start);
    if (item == "first") {
      chosen.insert(0);
    } else {
      try {
        for (const auto index : heads::select_snapshots(item, snapshots)) chosen.insert(index);
      } catch (const std::invalid_argument& error) {
        throw std::invalid_argument(std::string(error.what()) + " (or first, or a comma list)");
      }
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return {chosen.begin(), chosen.end()};
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// What the maps of one dump will hold: chosen snapshots and samples, and their byte count.
struct MapSelection {
  std::vector<std::int64_t> snapshots;
  std::vector<std::int64_t> samples;
  std::int64_t bytes = 0;
};

MapSelection select_maps(const dump::DumpReader& reader, const ReportRequest& request) {
  MapSelection selection;
  if (request.maps == MapsMode::None || !reader.has_maps() || reader.snapshots() == 0) {
    return selection;
  }
  if (request.maps == MapsMode::All) {
    for (std::int64_t s = 0; s < reader.snapshots(); ++s) selection.snapshots.push_back(s);
  } else {
    try {
      selection.snapshots = report_snapshots(request.snapshots, reader.snapshots());
    } catch (const std::invalid_argument& error) {
      throw std::invalid_argument(reader.path().string() + ": " + error.what());
    }
  }
  for (std::int64_t b = 0; b < std::min(request.samples, reader.samples()); ++b) {
    selection.samples.push_back(b);
  }
  for (const auto& layer : reader.layers()) {
    const auto block = ceil_div(std::max(layer.query_length, layer.key_length), request.map_size);
    selection.bytes += static_cast<std::int64_t>(selection.snapshots.size() *
                                                 selection.samples.size()) *
                       layer.heads * ceil_div(layer.query_length, block) *
                       ceil_div(layer.key_length, block);
  }
  return selection;
}

template <typename T>
json token_rows(const dump::Array<T>& tokens, const std::vector<std::int64_t>& samples) {
  json rows = json::array();
  const auto length = static_cast<std::size_t>(tokens.shape.at(1));
  for (const auto sample : samples) {
    const auto begin = tokens.values.begin() + static_cast<std::ptrdiff_t>(sample * length);
    rows.push_back(std::vector<T>(begin, begin + static_cast<std::ptrdiff_t>(length)));
  }
  return rows;
}

// A probe of the user's inputs shows its tokens as text, any other dump as ids.
json probe_token_rows(const dump::DumpReader& reader, const std::vector<std::int64_t>& samples) {
  if (reader.has(dump::kProbeTokenText)) {
    return token_rows(reader.probe_text(dump::kProbeTokenText), samples);
  }
  return token_rows(reader.probe(dump::kProbeTokens), samples);
}

json maps_json(const dump::DumpReader& reader, const ReportRequest& request,
               const MapSelection& selection, const ReportProgress& progress,
               std::int64_t& done, std::int64_t total) {
  if (selection.snapshots.empty() || selection.samples.empty()) return nullptr;
  json source = nullptr;
  if (reader.has(dump::kProbeSource)) {
    source = token_rows(reader.probe(dump::kProbeSource), selection.samples);
  }
  json layers = json::array();
  std::vector<std::uint8_t> codes;
  std::vector<float> map;
  for (std::size_t l = 0; l < reader.layers().size(); ++l) {
    const auto& layer = reader.layers()[l];
    const auto block = ceil_div(std::max(layer.query_length, layer.key_length), request.map_size);
    const auto rows = ceil_div(layer.query_length, block);
    const auto cols = ceil_div(layer.key_length, block);
    const bool signed_map = layer.map_kind == dump::kMapKindSigned;
    codes.clear();
    json scale = json::array();
    for (const auto snapshot : selection.snapshots) {
      json per_sample = json::array();
      for (const auto sample : selection.samples) {
        json per_head = json::array();
        for (std::int64_t h = 0; h < layer.heads; ++h) {
          map = reader.map(static_cast<std::int64_t>(l), snapshot, sample, h);
          // 8-bit codes hold magnitudes: a signed map is shown as |A| (the page says so).
          if (signed_map) {
            for (auto& weight : map) weight = std::abs(weight);
          }
          per_head.push_back(
              quantise_map(map, layer.query_length, layer.key_length, block, codes));
          if (progress) progress(++done, total);
        }
        per_sample.push_back(per_head);
      }
      scale.push_back(per_sample);
    }
    layers.push_back({{"layer", l},
                      {"query_length", layer.query_length},
                      {"key_length", layer.key_length},
                      {"rows", rows},
                      {"cols", cols},
                      {"block", block},
                      {"values", signed_map ? "|A|" : "A"},
                      {"scale", scale},
                      {"data", base64(codes)}});
  }
  return {{"snapshots", selection.snapshots},
          {"samples", selection.samples},
          {"tokens", probe_token_rows(reader, selection.samples)},
          {"source", source},
          {"layers", layers}};
}

json layers_json(const dump::DumpReader& reader) {
  json layers = json::array();
  for (const auto& layer : reader.layers()) {
    layers.push_back({{"index", layer.index},
                      {"kind", layer.kind},
                      {"role", dump::role_name(layer.role)},
                      {"causal", layer.causal},
                      {"heads", layer.heads},
                      {"query_length", layer.query_length},
                      {"key_length", layer.key_length},
                      {"map_kind", layer.map_kind},
                      {"statistics_on", dump::map_statistics_basis(layer.map_kind)}});
  }
  return layers;
}

json optional_attribute(const dump::DumpReader& reader, const char* name) {
  try {
    return reader.string_attribute(name);
  } catch (const dump::DumpError&) {
    return nullptr;
  }
}

// --- finding what DIR is ------------------------------------------------------------------

Kind detect_kind(const fs::path& dir) {
  if (!fs::is_directory(dir)) {
    throw std::invalid_argument(dir.string() + ": not a directory (a sweep, a run, a folder of "
                                "runs, an analyze output or a probe folder)");
  }
  if (fs::exists(dir / kManifestFile)) return Kind::Sweep;
  if (fs::exists(dir / kConfigFile)) return Kind::Run;
  if (fs::exists(dir / dump::kFileName)) return Kind::Probe;  // attnlab probe's folder
  if (fs::exists(dir / heads::kAnalysisFile) || fs::exists(dir / heads::kClassesFile)) {
    return Kind::Analysis;
  }
  return Kind::Runs;
}

// The dump an analysis folder was made from: the one analysis.h5 names when that path holds
// (analyze records it as given, so a relative one may have meant another working directory),
// else the dump beside the folder (analyze's default is <run>/analysis/). Either must hold every
// step the analysis covers and the layers of its similarity matrix, or the labels would be shown
// next to another run's maps.
fs::path analysed_dump(const fs::path& analysis_dir) {
  const auto file = analysis_dir / heads::kAnalysisFile;
  std::vector<fs::path> candidates;
  std::vector<std::int64_t> analysed_steps;
  if (fs::exists(file)) {
    const auto handle = open_analysis_file(file);
    const dump::QuietErrors quiet;
    const fs::path named = dump::read_string_attribute(handle.get(), "dump", file.string());
    if (named.is_absolute()) candidates.push_back(named);
    candidates.push_back(analysis_dir.parent_path() / dump::kFileName);
    if (named.is_relative()) candidates.push_back(named);
    analysed_steps = read_numeric<std::int64_t>(handle.get(), "steps", H5T_NATIVE_INT64,
                                                file.string());
  } else {
    candidates.push_back(analysis_dir.parent_path() / dump::kFileName);
  }
  for (const auto& candidate : candidates) {
    if (!fs::exists(candidate)) continue;
    const dump::DumpReader reader(candidate);
    const auto& steps = reader.steps();
    const bool covers = std::all_of(analysed_steps.begin(), analysed_steps.end(),
                                    [&steps](std::int64_t step) {
                                      return std::binary_search(steps.begin(), steps.end(), step);
                                    });
    if (covers) return candidate;
  }
  throw std::invalid_argument(analysis_dir.string() +
                              ": cannot find the attention dump this analysis was made from "
                              "(the one analysis.h5 names, or attention.h5 beside the folder, "
                              "holding every analysed step)");
}

DumpRun dump_run_of(const fs::path& run_dir, const std::string& group) {
  return {run_dir, run_dir / dump::kFileName, run_dir / kAnalysisFolder, group};
}

// A --with argument: a run folder or a dump file.
DumpRun with_run(const fs::path& path) {
  if (fs::is_regular_file(path)) return {path.parent_path(), path, path.parent_path() / kAnalysisFolder, ""};
  if (fs::exists(path / dump::kFileName)) return dump_run_of(path, "");
  throw std::invalid_argument("--with " + path.string() + ": no attention dump (" +
                              dump::kFileName + ") there");
}

// --- the document's parts -----------------------------------------------------------------

void check_request(const ReportRequest& request) {
  if (request.samples < 1) throw std::invalid_argument("--samples must be at least 1");
  if (request.map_size < 8) throw std::invalid_argument("--map-size must be at least 8");
  if (!(request.max_map_mb > 0 && request.max_map_mb <= kLargestMapMegabytes)) {
    throw std::invalid_argument("--max-map-mb must be in (0, " +
                                fmt::format("{}", kLargestMapMegabytes) + "]");
  }
}

// The document with what it says of itself, and its parts empty.
json document(const ReportRequest& request, Kind kind) {
  json data = {{"schema", kReportSchema},
               {"version", kReportSchemaVersion},
               {"kind", kind_name(kind)},
               {"source", request.dir.string()},
               {"created", utc_now()},
               {"attnlab_version", request.attnlab_version},
               {"maps_mode", maps_mode_name(request.maps)},
               {"map_size", request.map_size},
               {"comparison", nullptr},
               {"curves", json::array()},
               {"lengths", json::array()},
               {"bench_attention", nullptr},
               {"runs", json::array()},
               {"skipped_dumps", json::array()}};
  const auto title_dir = fs::weakly_canonical(request.dir).filename().string();
  data["title"] = kind_name(kind) + " " + title_dir;
  return data;
}

// The runs of DIR: their comparison and learning curves into `data`; returns those with a dump.
std::vector<DumpRun> gather_runs(const ReportRequest& request, Kind kind, json& data) {
  std::vector<DumpRun> dump_runs;
  if (kind == Kind::Analysis) {
    const auto dump = analysed_dump(request.dir);
    dump_runs.push_back({dump.parent_path(), dump, request.dir, ""});
    return dump_runs;
  }
  if (kind == Kind::Probe) {
    dump_runs.push_back(dump_run_of(request.dir, ""));
    return dump_runs;
  }
  const auto runs = analysis::load_runs({request.dir});
  if (kind == Kind::Run) {
    append_curve(runs.front(), run_name(request.dir, request.dir), request.dir, data["curves"]);
    if (fs::exists(request.dir / dump::kFileName)) {
      dump_runs.push_back(dump_run_of(request.dir, ""));
    }
    return dump_runs;
  }
  const auto comparison = analysis::compare_runs(runs);
  data["comparison"] = comparison_json(comparison, request.dir);
  data["lengths"] = lengths_json(analysis::length_generalisation(comparison));
  std::map<fs::path, std::string> group_of;
  for (const auto& group : comparison.groups) {
    for (const auto* run : group.runs) {
      group_of[run->dir] = group.label;
      append_curve(*run, group.label, request.dir, data["curves"]);
    }
  }
  for (const auto& run : runs) {
    if (fs::exists(run.dir / dump::kFileName)) {
      const auto found = group_of.find(run.dir);
      dump_runs.push_back(dump_run_of(run.dir, found == group_of.end() ? "" : found->second));
      dump_runs.back().completed = run.completed();
    }
  }
  return dump_runs;
}

// bench attention's speed and memory curves: the given CSV, or one beside the runs; null without.
json bench_attention_json(const ReportRequest& request) {
  auto bench = request.bench_csv;
  if (bench.empty()) {
    for (const auto& candidate : {request.dir / "attention.csv",
                                  request.dir / "bench" / "attention.csv"}) {
      if (fs::exists(candidate)) bench = candidate;
    }
  }
  if (bench.empty()) return nullptr;
  const auto table = CsvTable::read(bench);
  table.require_column("T");
  json rows = json::array();
  for (std::size_t row = 0; row < table.rows(); ++row) {
    json values = json::object();
    for (std::size_t column = 0; column < table.header().size(); ++column) {
      const auto& text = table.field(row, column);
      char* end = nullptr;
      const double value = std::strtod(text.c_str(), &end);
      const bool numeric = !text.empty() && end == text.c_str() + text.size();
      values[table.header()[column]] = numeric ? number(value) : json(text);
    }
    rows.push_back(values);
  }
  return {{"source", bench.string()}, {"rows", rows}};
}

struct OpenDumps {
  std::vector<DumpRun> runs;                               // those whose dump opened
  std::vector<std::unique_ptr<dump::DumpReader>> readers;  // one per run
  std::vector<MapSelection> selections;                    // one per run
  std::int64_t map_bytes = 0;                              // of every selected map, 8-bit
  std::int64_t maps_total = 0;
};

// Every dump, opened first so that the map budget is checked before anything heavy is read. A
// run still training holds its dump open for writing (HDF5 locks it): a report of a sweep in
// progress leaves such dumps out, says so in `skipped`, and shows the rest.
OpenDumps open_dumps(const std::vector<DumpRun>& dump_runs, const ReportRequest& request,
                     json& skipped) {
  OpenDumps dumps;
  for (const auto& run : dump_runs) {
    try {
      dumps.readers.push_back(std::make_unique<dump::DumpReader>(run.dump));
    } catch (const dump::DumpError& error) {
      if (run.completed) throw;
      skipped.push_back(run_name(run.run_dir, request.dir) +
                        ": run not finished, dump not readable now (" + error.what() + ")");
      continue;
    }
    dumps.runs.push_back(run);
    const auto& selection =
        dumps.selections.emplace_back(select_maps(*dumps.readers.back(), request));
    dumps.map_bytes += selection.bytes;
    for (const auto& layer : dumps.readers.back()->layers()) {
      dumps.maps_total +=
          static_cast<std::int64_t>(selection.snapshots.size() * selection.samples.size()) *
          layer.heads;
    }
  }
  return dumps;
}

// The report's progress over the maps of every run.
struct MapProgress {
  const ReportProgress& callback;
  std::int64_t done;
  std::int64_t total;
};

json run_json(const DumpRun& run, const dump::DumpReader& reader, const ReportRequest& request,
              const MapSelection& selection, MapProgress& maps) {
  json seed = nullptr;
  if (fs::exists(run.run_dir / kConfigFile)) seed = seed_of(analysis::load_run(run.run_dir));
  json entry = {
      {"name", run_name(run.run_dir, request.dir)},
      {"dir", run.run_dir.string()},
      {"group", run.group.empty() ? json(nullptr) : json(run.group)},
      {"task", optional_attribute(reader, dump::kAttributeTask)},
      {"variant", optional_attribute(reader, dump::kAttributeVariant)},
      {"seed", seed},
      {"dump", run.dump.string()},
      {"steps", reader.steps()},
      {"probe_loss", reader.probe_loss()},
      {"layers", layers_json(reader)},
      {"heads", reader.heads()},
      {"statistics", statistics_json(reader)},
      {"labels", labels_json(run.analysis_dir / heads::kClassesFile, reader.layers().size(),
                             reader.heads())},
      {"similarity", similarity_json(run.analysis_dir / heads::kAnalysisFile)},
      {"pruning", pruning_json(run.run_dir / kAblationFolder)},
      {"maps", maps_json(reader, request, selection, maps.callback, maps.done, maps.total)},
      {"token_context", token_context_json(run.run_dir, reader)}};
  // probe_loss may hold NaN: JSON has no NaN.
  for (auto& loss : entry["probe_loss"]) {
    if (loss.is_number() && !std::isfinite(loss.get<double>())) loss = nullptr;
  }
  return entry;
}

}  // namespace

float quantise_map(const std::vector<float>& map, std::int64_t rows, std::int64_t cols,
                   std::int64_t block, std::vector<std::uint8_t>& out) {
  const auto out_rows = ceil_div(rows, block);
  const auto out_cols = ceil_div(cols, block);
  std::vector<double> sums(static_cast<std::size_t>(out_rows * out_cols), 0.0);
  for (std::int64_t i = 0; i < rows; ++i) {
    double* row = sums.data() + (i / block) * out_cols;
    const float* values = map.data() + i * cols;
    for (std::int64_t j = 0; j < cols; ++j) row[j / block] += values[j];
  }
  float largest = 0.0F;
  std::vector<float> means(sums.size());
  for (std::int64_t r = 0; r < out_rows; ++r) {
    const auto cell_rows = std::min(block, rows - r * block);
    for (std::int64_t c = 0; c < out_cols; ++c) {
      const auto cell_cols = std::min(block, cols - c * block);
      const auto index = static_cast<std::size_t>(r * out_cols + c);
      // A NaN weight (a query with no allowed key stores zeros, never NaN) would poison the
      // scale: count it as zero.
      const double mean = sums[index] / static_cast<double>(cell_rows * cell_cols);
      means[index] = std::isfinite(mean) ? static_cast<float>(mean) : 0.0F;
      largest = std::max(largest, means[index]);
    }
  }
  out.reserve(out.size() + means.size());
  for (const float mean : means) {
    out.push_back(largest > 0.0F ? static_cast<std::uint8_t>(std::lround(255.0F * mean / largest))
                                 : 0);
  }
  return largest;
}

std::string base64(const std::vector<std::uint8_t>& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string text;
  text.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned value = (bytes[i] << 16U) | (bytes[i + 1] << 8U) | bytes[i + 2];
    text += kAlphabet[(value >> 18U) & 63U];
    text += kAlphabet[(value >> 12U) & 63U];
    text += kAlphabet[(value >> 6U) & 63U];
    text += kAlphabet[value & 63U];
  }
  if (i < bytes.size()) {
    const unsigned value =
        (bytes[i] << 16U) | (i + 1 < bytes.size() ? bytes[i + 1] << 8U : 0U);
    text += kAlphabet[(value >> 18U) & 63U];
    text += kAlphabet[(value >> 12U) & 63U];
    text += i + 1 < bytes.size() ? kAlphabet[(value >> 6U) & 63U] : '=';
    text += '=';
  }
  return text;
}

std::string maps_mode_name(MapsMode mode) {
  switch (mode) {
    case MapsMode::None: return "none";
    case MapsMode::Selected: return "selected";
    case MapsMode::All: return "all";
  }
  return "selected";
}

MapsMode parse_maps_mode(const std::string& text) {
  if (text == "none") return MapsMode::None;
  if (text == "selected") return MapsMode::Selected;
  if (text == "all") return MapsMode::All;
  throw std::invalid_argument("--maps '" + text + "': expected none, selected or all");
}

json gather_report_data(const ReportRequest& request, const ReportProgress& progress) {
  check_request(request);
  const Kind kind = detect_kind(request.dir);
  json data = document(request, kind);
  auto dump_runs = gather_runs(request, kind, data);
  for (const auto& path : request.with_runs) dump_runs.push_back(with_run(path));
  data["bench_attention"] = bench_attention_json(request);

  const auto dumps = open_dumps(dump_runs, request, data["skipped_dumps"]);
  // Stored as base64 in the page: 4 characters per 3 bytes.
  const double page_megabytes = static_cast<double>(dumps.map_bytes) * 4.0 / 3.0 / 1e6;
  if (page_megabytes > request.max_map_mb) {
    throw std::invalid_argument(fmt::format(
        "the selected maps would take {:.1f} MB of the page (8-bit, base64), more than "
        "--max-map-mb {}: choose fewer snapshots (--snapshot last), --samples 1, a smaller "
        "--map-size, or --maps none",
        page_megabytes, request.max_map_mb));
  }
  MapProgress maps{progress, 0, dumps.maps_total};
  for (std::size_t i = 0; i < dumps.runs.size(); ++i) {
    data["runs"].push_back(
        run_json(dumps.runs[i], *dumps.readers[i], request, dumps.selections[i], maps));
  }
  return data;
}

}  // namespace attnlab::report
