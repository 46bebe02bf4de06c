#include "analysis/heads/head_analysis.h"

#include <cerrno>
#include <cstdlib>
#include <map>
#include <stdexcept>

#include "analysis/heads/analysed_map.h"
#include "analysis/heads/head_thresholds.h"

namespace attnlab::heads {
namespace {

// The token sequence each self-attention layer's queries and keys belong to, per sample, or
// none when the analysis cannot tell: by the layer's role (dump::LayerRole), the source for the
// encoder of an encoder-decoder model, the probe's tokens otherwise. Cross-attention compares two
// sequences: no token scores.
struct LayerTokens {
  const dump::Array<std::int64_t>* tokens = nullptr;  // [B,T]
};

std::vector<LayerTokens> layer_tokens(const dump::DumpReader& reader,
                                      const dump::Array<std::int64_t>& tokens,
                                      const dump::Array<std::int64_t>& source) {
  const auto& layers = reader.layers();
  std::vector<LayerTokens> result(layers.size());
  for (std::size_t index = 0; index < layers.size(); ++index) {
    const auto& layer = layers[index];
    if (layer.role == dump::LayerRole::Cross) continue;
    const bool over_source = layer.role == dump::LayerRole::EncoderSelf && !source.values.empty();
    const auto* candidate = over_source ? &source : &tokens;
    // Only when the sequence really is this layer's (a classifier may prepend a token the probe
    // does not hold, for example).
    if (candidate->shape.size() == 2 && candidate->shape[0] == reader.samples() &&
        candidate->shape[1] == layer.query_length && layer.query_length == layer.key_length) {
      result[index].tokens = candidate;
    }
  }
  return result;
}

// The dump's per-head statistics ([N,H]) of one layer, by name.
struct FileStatistic {
  std::string name;
  dump::Array<float> values;
};

// The per-head statistics in the file (importance only when recorded; the row masses of a dump
// older than them read as 1), the same for every layer.
std::vector<const dump::Statistic*> head_statistics(const dump::DumpReader& reader) {
  std::vector<const dump::Statistic*> found;
  for (const auto& statistic : dump::kStatistics) {
    if (statistic.shape != dump::StatisticShape::Head || reader.layers().empty()) continue;
    if (reader.has(dump::layer_group(0) + "/" + statistic.name) ||
        dump::predates(statistic, reader.schema_version())) {
      found.push_back(&statistic);
    }
  }
  return found;
}

// What the analysis reads of a layer once for all its heads and snapshots.
struct LayerInputs {
  std::vector<FileStatistic> statistics;  // [N,H] each
  dump::Array<std::int32_t> allowed;      // [H,Tq] keys each query may attend to
};

// A file of another layout must fail with its name, not index out of bounds.
std::vector<LayerInputs> read_layer_inputs(const dump::DumpReader& reader,
                                           const std::vector<std::string>& statistic_names) {
  const auto& layers = reader.layers();
  std::vector<LayerInputs> inputs(layers.size());
  for (std::size_t layer = 0; layer < layers.size(); ++layer) {
    const auto& info = layers[layer];
    const auto index = static_cast<std::int64_t>(layer);
    const std::string group = reader.path().string() + ": " + dump::layer_group(index) + "/";
    for (const auto& name : statistic_names) {
      auto values = reader.statistic(index, name);
      if (values.shape != std::vector<std::int64_t>{reader.snapshots(), info.heads}) {
        throw dump::DumpError("attention dump " + group + name + ": shape is not [snapshots, " +
                              std::to_string(info.heads) + " heads]");
      }
      inputs[layer].statistics.push_back({name, std::move(values)});
    }
    inputs[layer].allowed = reader.allowed_keys(index);
    if (inputs[layer].allowed.shape != std::vector<std::int64_t>{info.heads, info.query_length}) {
      throw dump::DumpError("attention dump " + group + dump::kLayerAllowedKeys +
                            ": shape is not [heads, queries]");
    }
  }
  return inputs;
}

struct HeadSite {
  std::int64_t snapshot, layer, head;
};

// The map metrics of one head over every sample's map, one map in memory at a time; `tokens`
// [B,T]: the layer's token sequence (layer_tokens), or null.
MapMetrics map_metrics_of(const dump::DumpReader& reader, const HeadSite& site,
                          const LayerInputs& inputs, const dump::Array<std::int64_t>* tokens) {
  const auto& info = reader.layers()[static_cast<std::size_t>(site.layer)];
  HeadAccumulator accumulator(info.query_length, info.key_length, info.causal);
  const std::int32_t* allowed_keys = inputs.allowed.values.data() + site.head * info.query_length;
  for (std::int64_t sample = 0; sample < reader.samples(); ++sample) {
    const auto map =
        read_analysed_map(reader, site.layer, site.snapshot, sample, site.head, allowed_keys);
    const std::int64_t* sample_tokens =
        tokens == nullptr ? nullptr : tokens->values.data() + sample * info.query_length;
    accumulator.add(map.weights.data(), map.allowed.data(), sample_tokens);
  }
  return accumulator.finish();
}

// Statistics-only dump: the positional, broad and sink labels from the file's own statistics
// (same definitions); the token labels and local need maps.
HeadScores scores_from_statistics(const std::map<std::string, double>& file_values) {
  const auto value = [&](const char* name) {
    const auto found = file_values.find(name);
    return found == file_values.end() ? HeadScores::kUnknown : found->second;
  };
  HeadScores scores;
  scores.previous = value(dump::kPreviousMass);
  scores.next = value(dump::kNextMass);
  scores.self = value(dump::kSelfMass);
  scores.broad = value(dump::kEntropyNormalised);
  scores.sink = value(dump::kSinkMass);
  return scores;
}

HeadResult analyse_head(const dump::DumpReader& reader, const HeadSite& site,
                        const LayerInputs& inputs, const dump::Array<std::int64_t>* tokens) {
  const auto& info = reader.layers()[static_cast<std::size_t>(site.layer)];
  HeadResult result;
  result.snapshot = site.snapshot;
  result.step = reader.steps()[static_cast<std::size_t>(site.snapshot)];
  result.layer = site.layer;
  result.head = site.head;
  std::map<std::string, double> file_values;
  for (const auto& statistic : inputs.statistics) {
    const double value =
        statistic.values.values[static_cast<std::size_t>(site.snapshot * info.heads + site.head)];
    result.values.push_back(value);
    file_values[statistic.name] = value;
  }
  if (reader.has_maps()) {
    const auto metrics = map_metrics_of(reader, site, inputs, tokens);
    for (const auto& [name, value] : metrics.named()) result.values.push_back(value);
    result.scores = scores_from_maps(metrics);
  } else {
    result.scores = scores_from_statistics(file_values);
  }
  if (info.role == dump::LayerRole::Cross) {
    // Decoder and source positions are not aligned: offsets from the query's own position mean
    // nothing there, so no positional labels (their metrics stay in heads.csv).
    result.scores.previous = result.scores.next = result.scores.self = HeadScores::kUnknown;
    result.scores.local = HeadScores::kUnknown;
  }
  result.classification = classify(result.scores);
  return result;
}

}  // namespace

const char* HeadAnalysis::metric_basis(std::size_t metric, std::int64_t layer) const {
  return metric_of_raw_map.at(metric)
             ? dump::kBasisMap
             : dump::map_statistics_basis(map_kinds.at(static_cast<std::size_t>(layer)));
}

std::vector<std::int64_t> select_snapshots(const std::string& spec, std::int64_t snapshots) {
  const std::string choices = "'all', 'last' or a snapshot index in [0, " +
                              std::to_string(snapshots) + ") (negative: from the end)";
  if (snapshots <= 0) throw std::invalid_argument("the dump has no complete snapshot");
  std::vector<std::int64_t> selected;
  if (spec == "all") {
    for (std::int64_t index = 0; index < snapshots; ++index) selected.push_back(index);
    return selected;
  }
  if (spec == "last") return {snapshots - 1};
  char* end = nullptr;
  errno = 0;
  const long long index = std::strtoll(spec.c_str(), &end, 10);
  if (spec.empty() || *end != '\0' || errno != 0 || index >= snapshots || index < -snapshots) {
    throw std::invalid_argument("--snapshot '" + spec + "': expected " + choices);
  }
  return {index < 0 ? snapshots + index : index};
}

HeadAnalysis analyse_heads(const dump::DumpReader& reader,
                           const std::vector<std::int64_t>& snapshots,
                           const ProgressCallback& progress) {
  HeadAnalysis analysis;
  analysis.snapshots = snapshots;
  std::vector<std::string> statistic_names;
  for (const auto* statistic : head_statistics(reader)) {
    statistic_names.push_back(statistic->name);
    analysis.metric_of_raw_map.push_back(statistic->of_raw_map);
  }
  analysis.metric_names = statistic_names;
  if (reader.has_maps()) {
    for (const auto& name : MapMetrics::names()) {
      analysis.metric_names.push_back(name);
      analysis.metric_of_raw_map.push_back(false);
    }
  }
  for (const auto& layer : reader.layers()) analysis.map_kinds.push_back(layer.map_kind);

  dump::Array<std::int64_t> tokens, source;
  if (reader.has(dump::kProbeTokens)) tokens = reader.probe(dump::kProbeTokens);
  if (reader.has(dump::kProbeSource)) source = reader.probe(dump::kProbeSource);
  const auto tokens_of_layer = layer_tokens(reader, tokens, source);
  const auto inputs = read_layer_inputs(reader, statistic_names);

  const auto& layers = reader.layers();
  std::int64_t heads_per_snapshot = 0, done = 0;
  for (const auto& info : layers) heads_per_snapshot += info.heads;
  const auto total = heads_per_snapshot * static_cast<std::int64_t>(snapshots.size());
  for (const auto snapshot : snapshots) {
    for (std::size_t layer = 0; layer < layers.size(); ++layer) {
      for (std::int64_t head = 0; head < layers[layer].heads; ++head) {
        const HeadSite site{snapshot, static_cast<std::int64_t>(layer), head};
        analysis.heads.push_back(
            analyse_head(reader, site, inputs[layer], tokens_of_layer[layer].tokens));
        if (progress) progress(++done, total);
      }
    }
  }
  return analysis;
}

}  // namespace attnlab::heads
