#include "analysis/heads/head_analysis.h"

#include <cerrno>
#include <cstdlib>
#include <map>
#include <stdexcept>

#include "analysis/heads/head_thresholds.h"

namespace attnlab::heads {
namespace {

// The token sequence each self-attention layer's queries and keys belong to, per sample, or
// none when the analysis cannot tell. Layers run in forward order: encoder self-attention layers
// (over /probe/source), then per decoder block its self-attention (over /probe/tokens) followed by
// its cross-attention; so with a source, a self-attention layer is the decoder's exactly when a
// cross-attention layer follows it. Cross-attention compares two sequences: no token scores.
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
    if (layer.kind == "cross") continue;
    const bool decoder =
        source.values.empty() || (index + 1 < layers.size() && layers[index + 1].kind == "cross");
    const auto* candidate = decoder ? &tokens : &source;
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

}  // namespace

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
  const auto& layers = reader.layers();

  // Statistics present in the file (importance only when recorded), identical for every layer.
  std::vector<std::string> statistic_names;
  for (const auto& statistic : dump::kStatistics) {
    if (statistic.shape != dump::StatisticShape::Head || layers.empty()) continue;
    if (reader.has(dump::layer_group(0) + "/" + statistic.name)) {
      statistic_names.push_back(statistic.name);
    }
  }
  analysis.metric_names = statistic_names;
  if (reader.has_maps()) {
    for (const auto& name : MapMetrics::names()) analysis.metric_names.push_back(name);
  }

  dump::Array<std::int64_t> tokens, source;
  if (reader.has(dump::kProbeTokens)) tokens = reader.probe(dump::kProbeTokens);
  if (reader.has(dump::kProbeSource)) source = reader.probe(dump::kProbeSource);
  const auto tokens_of_layer = layer_tokens(reader, tokens, source);

  std::vector<std::vector<FileStatistic>> statistics(layers.size());
  std::vector<dump::Array<std::int32_t>> allowed(layers.size());
  for (std::size_t layer = 0; layer < layers.size(); ++layer) {
    const auto& info = layers[layer];
    const std::string group =
        reader.path().string() + ": " + dump::layer_group(static_cast<std::int64_t>(layer)) + "/";
    for (const auto& name : statistic_names) {
      auto values = reader.statistic(static_cast<std::int64_t>(layer), name);
      // A file of another layout must fail with its name, not index out of bounds.
      if (values.shape != std::vector<std::int64_t>{reader.snapshots(), info.heads}) {
        throw dump::DumpError("attention dump " + group + name + ": shape is not [snapshots, " +
                              std::to_string(info.heads) + " heads]");
      }
      statistics[layer].push_back({name, std::move(values)});
    }
    allowed[layer] = reader.allowed_keys(static_cast<std::int64_t>(layer));
    if (allowed[layer].shape != std::vector<std::int64_t>{info.heads, info.query_length}) {
      throw dump::DumpError("attention dump " + group + dump::kLayerAllowedKeys +
                            ": shape is not [heads, queries]");
    }
  }

  std::int64_t heads_per_snapshot = 0, done = 0;
  for (const auto& info : layers) heads_per_snapshot += info.heads;
  const auto total = heads_per_snapshot * static_cast<std::int64_t>(snapshots.size());
  for (const auto snapshot : snapshots) {
    const auto step = reader.steps()[static_cast<std::size_t>(snapshot)];
    for (std::size_t layer = 0; layer < layers.size(); ++layer) {
      const auto& info = layers[layer];
      for (std::int64_t head = 0; head < info.heads; ++head) {
        HeadResult result;
        result.snapshot = snapshot;
        result.step = step;
        result.layer = static_cast<std::int64_t>(layer);
        result.head = head;
        std::map<std::string, double> file_values;
        for (const auto& statistic : statistics[layer]) {
          const double value =
              statistic.values.values[static_cast<std::size_t>(snapshot * info.heads + head)];
          result.values.push_back(value);
          file_values[statistic.name] = value;
        }
        if (reader.has_maps()) {
          HeadAccumulator accumulator(info.query_length, info.key_length, info.causal);
          const std::int32_t* allowed_keys =
              allowed[layer].values.data() + head * info.query_length;
          const auto* layer_tokens = tokens_of_layer[layer].tokens;
          for (std::int64_t sample = 0; sample < reader.samples(); ++sample) {
            const auto map = reader.map(static_cast<std::int64_t>(layer), snapshot, sample, head);
            const std::int64_t* sample_tokens =
                layer_tokens == nullptr ? nullptr
                                        : layer_tokens->values.data() + sample * info.query_length;
            accumulator.add(map.data(), allowed_keys, sample_tokens);
          }
          const auto metrics = accumulator.finish();
          for (const auto& [name, value] : metrics.named()) result.values.push_back(value);
          result.scores = scores_from_maps(metrics);
        } else {
          // Statistics-only dump: the positional, broad and sink labels from the file's own
          // statistics (same definitions); the token labels and local need maps.
          const auto value = [&](const char* name) {
            const auto found = file_values.find(name);
            return found == file_values.end() ? HeadScores::kUnknown : found->second;
          };
          result.scores.previous = value(dump::kPreviousMass);
          result.scores.next = value(dump::kNextMass);
          result.scores.self = value(dump::kSelfMass);
          result.scores.broad = value(dump::kEntropyNormalised);
          result.scores.sink = value(dump::kSinkMass);
        }
        if (info.kind == "cross") {
          // Decoder and source positions are not aligned: offsets from the query's own position
          // mean nothing there, so no positional labels (their metrics stay in heads.csv).
          result.scores.previous = result.scores.next = result.scores.self = HeadScores::kUnknown;
          result.scores.local = HeadScores::kUnknown;
        }
        result.classification = classify(result.scores);
        analysis.heads.push_back(std::move(result));
        if (progress) progress(++done, total);
      }
    }
  }
  return analysis;
}

}  // namespace attnlab::heads
