// The attention dump (attention.h5): every dataset and attribute name, the schema version and the
// shape of each array, defined once and used by the writer (experiments/record) and the reader
// (dump/). docs/recording.md documents the same layout for h5py users.
//
// N = snapshots (the growing axis), B = probe samples, H = heads, Tq = query length,
// Tk = key length, L = attention layers (every attention module, in forward order).
//
//   /                          root attributes (kAttribute*)
//   /steps                     int64 [N]     training step of each snapshot; the commit marker
//   /probe_loss                float64 [N]   loss of the probe batch at each snapshot
//   /probe/indices             int64 [B]     validation indices of the probe examples
//   /probe/tokens              int64 [B,Tq]  model inputs
//   /probe/targets             int64 [B,Tq] (or [B] for classification)
//   /probe/source              int64 [B,S]   encoder inputs (encoder-decoder tasks only)
// A probe of a user's own inputs (`attnlab probe`) also holds, and its indices number the inputs:
//   /probe/text                string [B]    each input as given
//   /probe/token_text          string [B,Tq] each token as text ("" after an input's end)
//   /probe/lengths             int64 [B]     tokens of each input (the rest of its row is padding)
//   /layers/<ll>               one group per attention layer (kLayerAttribute*)
//   /layers/<ll>/maps          float16|float32 [N,B,H,Tq,Tk]  the map A as the layer made it (of
//                              the group's map_kind); one (sample, head) map per chunk
//   /layers/<ll>/allowed_keys  int32 [H,Tq]  keys query i may attend to (n_i)
//   /layers/<ll>/<statistic>   float32, shape by kStatistics below
//
// Consistency rule: a snapshot is complete when its step is in /steps. /steps is extended only
// after everything else of the snapshot is on disk, so after a crash the other snapshot-axis
// datasets may be longer than /steps (a partial snapshot, ignored by readers and dropped by a
// resumed writer) but never shorter. Unwritten /steps entries read as kStepFill.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <string>

namespace attnlab::dump {

// Version 2 added each layer's role (kLayerAttributeRole); version 1 files still read, with the
// role derived from the forward order (dump_file.cpp). Version 3 added each layer's map kind
// (kLayerAttributeMapKind) and the row masses (kRowMass, kRowAbsMass); older files read as
// distributions, whose row masses are 1 (kRowMassBeforeSchema3).
inline constexpr std::int64_t kSchemaVersion = 3;
inline constexpr const char* kFormat = "attnlab.attention_dump";
inline constexpr const char* kFileName = "attention.h5";
inline constexpr std::int64_t kStepFill = -1;

// Root attributes.
inline constexpr const char* kAttributeFormat = "format";                  // string kFormat
inline constexpr const char* kAttributeSchemaVersion = "schema_version";   // int64
inline constexpr const char* kAttributeAttnlabVersion = "attnlab_version"; // string
inline constexpr const char* kAttributeGitCommit = "git_commit";           // string
inline constexpr const char* kAttributeConfig = "config";                  // string: resolved TOML
inline constexpr const char* kAttributeExperiment = "experiment";          // string
inline constexpr const char* kAttributeVariant = "variant";                // string
inline constexpr const char* kAttributeTask = "task";                      // string
inline constexpr const char* kAttributeArch = "arch";                      // string (model.arch)
inline constexpr const char* kAttributeLayers = "layers";                  // int64 L
inline constexpr const char* kAttributeHeads = "heads";                    // int64 H
inline constexpr const char* kAttributeSamples = "samples";                // int64 B
inline constexpr const char* kAttributeRecordEvery = "record_every";       // int64
inline constexpr const char* kAttributeRecordSeed = "record_seed";         // int64
inline constexpr const char* kAttributeMaps = "maps";                      // int64 0/1
inline constexpr const char* kAttributeMapDtype = "map_dtype";             // "float16"|"float32"
inline constexpr const char* kAttributeCompression = "compression";        // int64 gzip 0-9
inline constexpr const char* kAttributeImportance = "importance";          // int64 0/1

// Attributes of each /layers/<ll> group.
inline constexpr const char* kLayerAttributeIndex = "index";              // int64, forward order
inline constexpr const char* kLayerAttributeKind = "kind";                // "self" | "cross"
inline constexpr const char* kLayerAttributeRole = "role";                // kLayerRoles name
inline constexpr const char* kLayerAttributeCausal = "causal";            // int64 0/1
inline constexpr const char* kLayerAttributeHeads = "heads";              // int64 H
inline constexpr const char* kLayerAttributeQueryLength = "query_length"; // int64 Tq
inline constexpr const char* kLayerAttributeKeyLength = "key_length";     // int64 Tk
inline constexpr const char* kLayerAttributeMapKind = "map_kind";         // kMapKinds name

// What a row of a layer's maps is; the names of variants::map_kind_name (variants/map_kind.h),
// kept here as strings so that the dump stays free of LibTorch (a test holds the two equal).
inline constexpr const char* kMapKindDistribution = "distribution";  // A >= 0, rows sum to 1
inline constexpr const char* kMapKindPartial = "partial";            // A >= 0, rows sum to <= 1
inline constexpr const char* kMapKindUnnormalised = "unnormalised";  // A >= 0, any row sum
inline constexpr const char* kMapKindSigned = "signed";              // any sign
inline constexpr std::array<const char*, 4> kMapKinds = {
    kMapKindDistribution, kMapKindPartial, kMapKindUnnormalised, kMapKindSigned};

inline bool is_map_kind(const std::string& name) {
  for (const auto* kind : kMapKinds) {
    if (name == kind) return true;
  }
  return false;
}

// What the map statistics of a layer describe. A distribution's rows are read as they are; any
// other map is first made one, row by row: the analysed map is |A_ij| / sum_l |A_il| (a row of
// zero mass has none, and counts as an invalid query), and the row's mass is kept apart
// (kRowMass, kRowAbsMass). Without this, a signed row's entropy or k90 would mean nothing and an
// unnormalised row's confidence would measure its scale, not its focus.
inline constexpr const char* kBasisMap = "map";                           // A as stored
inline constexpr const char* kBasisNormalisedAbs = "normalised_abs_map";  // |A_ij| / sum_l |A_il|

inline bool analyses_raw_map(const std::string& map_kind) {
  return map_kind == kMapKindDistribution;
}

inline const char* map_statistics_basis(const std::string& map_kind) {
  return analyses_raw_map(map_kind) ? kBasisMap : kBasisNormalisedAbs;
}

// Attributes of every array dataset: its dimension names, outermost first, and a one-line doc.
inline constexpr const char* kDatasetAttributeDims = "dims";
inline constexpr const char* kDatasetAttributeDoc = "doc";

// Datasets (paths relative to the root, or to a layer group for the kLayer* ones).
inline constexpr const char* kSteps = "steps";
inline constexpr const char* kProbeLoss = "probe_loss";
inline constexpr const char* kProbeGroup = "probe";
inline constexpr const char* kProbeIndices = "probe/indices";
inline constexpr const char* kProbeTokens = "probe/tokens";
inline constexpr const char* kProbeTargets = "probe/targets";
inline constexpr const char* kProbeSource = "probe/source";
inline constexpr const char* kProbeText = "probe/text";
inline constexpr const char* kProbeTokenText = "probe/token_text";
inline constexpr const char* kProbeLengths = "probe/lengths";
inline constexpr const char* kLayersGroup = "layers";
inline constexpr const char* kLayerMaps = "maps";
inline constexpr const char* kLayerAllowedKeys = "allowed_keys";

inline constexpr const char* kMapDims = "snapshot,sample,head,query,key";
inline constexpr const char* kAllowedKeysDims = "head,query";

// The part of the model an attention layer belongs to, which says which probe sequence its queries
// and keys run over: encoder self-attention over /probe/source when the dump has one (encoder-
// decoder models; an encoder-only model's over /probe/tokens), decoder self-attention over
// /probe/tokens, cross-attention from /probe/tokens to /probe/source.
enum class LayerRole { EncoderSelf, DecoderSelf, Cross };

struct LayerRoleName {
  LayerRole role;
  const char* name;  // the kLayerAttributeRole value
};

inline constexpr std::array<LayerRoleName, 3> kLayerRoles = {{
    {LayerRole::EncoderSelf, "encoder_self"},
    {LayerRole::DecoderSelf, "decoder_self"},
    {LayerRole::Cross, "cross"},
}};

inline const char* role_name(LayerRole role) {
  for (const auto& entry : kLayerRoles) {
    if (entry.role == role) return entry.name;
  }
  return "";
}

// "layers/03": the group of attention layer 3 (two digits up to 99 layers, then more).
inline std::string layer_group(std::int64_t layer) {
  char name[32];
  std::snprintf(name, sizeof(name), "%s/%02lld", kLayersGroup, static_cast<long long>(layer));
  return name;
}

// Per-head statistics. Means run over the probe's valid queries (n_i >= 1: at least one allowed
// key; for a map that is not a distribution also a row of non-zero mass) and its samples;
// per-query arrays are means over samples only. Query i sits at key position p_i = i + Tk - Tq
// (self-attention: p_i = i). Statistics of the map are computed on the analysed map
// (map_statistics_basis), those marked `of_raw_map` on A as stored (or not on the map at all).
// Definitions: docs/head-metrics.md.
enum class StatisticShape {
  Head,           // float32 [N,H]
  HeadQuery,      // float32 [N,H,Tq]
  SampleHeadKey,  // float32 [N,B,H,Tk]
};

struct Statistic {
  const char* name;
  StatisticShape shape;
  bool needs_importance;  // only present when the dump was recorded with record.importance
  const char* doc;
  bool of_raw_map = false;        // computed on A as stored, whatever the map kind
  std::int64_t since_schema = 1;  // older dumps lack it (readers give kRowMassBeforeSchema3)
};

// The row masses of schema 1 and 2 dumps, which hold distributions only: readers return this
// value for them, and a writer that continues such a dump fills its earlier snapshots with it.
inline constexpr float kRowMassBeforeSchema3 = 1.0f;

// Statistic names (datasets in each layer group).
inline constexpr const char* kEntropy = "entropy";
inline constexpr const char* kEntropyNormalised = "entropy_normalised";
inline constexpr const char* kConfidence = "confidence";
inline constexpr const char* kDistance = "distance";
inline constexpr const char* kSinkMass = "sink_mass";
inline constexpr const char* kSelfMass = "self_mass";
inline constexpr const char* kPreviousMass = "previous_mass";
inline constexpr const char* kNextMass = "next_mass";
inline constexpr const char* kK90 = "k90";
inline constexpr const char* kOutputNorm = "output_norm";
inline constexpr const char* kImportance = "importance";
inline constexpr const char* kImportanceNormalised = "importance_normalised";
inline constexpr const char* kEntropyPerQuery = "entropy_per_query";
inline constexpr const char* kConfidencePerQuery = "confidence_per_query";
inline constexpr const char* kDistancePerQuery = "distance_per_query";
inline constexpr const char* kK90PerQuery = "k90_per_query";
inline constexpr const char* kOutputNormPerQuery = "output_norm_per_query";
inline constexpr const char* kValueNorms = "value_norms";
inline constexpr const char* kRowMass = "row_mass";
inline constexpr const char* kRowAbsMass = "row_abs_mass";

// The map statistics use a_ij, the analysed map (map_statistics_basis): A_ij for a distribution,
// |A_ij| / sum_l |A_il| for any other kind.
inline constexpr std::array<Statistic, 20> kStatistics = {{
    {kEntropy, StatisticShape::Head, false,
     "mean_i H_i, H_i = -sum_j a_ij ln a_ij (nats); a = A for a distribution, else "
     "|A_ij| / sum_l |A_il| (the layer's map_kind)"},
    {kEntropyNormalised, StatisticShape::Head, false,
     "mean over queries with n_i > 1 of H_i / ln n_i (1 = uniform over the allowed keys)"},
    {kConfidence, StatisticShape::Head, false, "mean_i max_j a_ij (Voita et al. 2019)"},
    {kDistance, StatisticShape::Head, false, "mean_i sum_j a_ij |p_i - j| (positions)"},
    {kSinkMass, StatisticShape::Head, false, "mean_i a_i0: attention to the first key"},
    {kSelfMass, StatisticShape::Head, false, "mean over queries with key p_i of a[i, p_i]"},
    {kPreviousMass, StatisticShape::Head, false,
     "mean over queries with key p_i - 1 of a[i, p_i - 1]"},
    {kNextMass, StatisticShape::Head, false, "mean over queries with key p_i + 1 of a[i, p_i + 1]"},
    {kK90, StatisticShape::Head, false,
     "mean_i of the fewest keys whose sorted weights a_ij reach 0.9 of the row's mass"},
    {kOutputNorm, StatisticShape::Head, false,
     "mean_i ||sum_j A_ij f_h(x_j)||, f_h(x_j) = (x_j W_V^h + b_V^h) W_O^h, A as stored "
     "(Kobayashi et al. 2020)",
     /*of_raw_map=*/true},
    {kImportance, StatisticShape::Head, true,
     "mean over samples of |dL/d xi_h| at head gates xi = 1 (Michel et al. 2019)",
     /*of_raw_map=*/true},
    {kImportanceNormalised, StatisticShape::Head, true,
     "importance divided by the l2 norm of the layer's importances", /*of_raw_map=*/true},
    {kEntropyPerQuery, StatisticShape::HeadQuery, false, "H_i (nats), mean over samples"},
    {kConfidencePerQuery, StatisticShape::HeadQuery, false, "max_j a_ij, mean over samples"},
    {kDistancePerQuery, StatisticShape::HeadQuery, false,
     "sum_j a_ij |p_i - j|, mean over samples"},
    {kK90PerQuery, StatisticShape::HeadQuery, false, "k90 of row i, mean over samples"},
    {kOutputNormPerQuery, StatisticShape::HeadQuery, false,
     "||sum_j A_ij f_h(x_j)||, A as stored, mean over samples", /*of_raw_map=*/true},
    {kValueNorms, StatisticShape::SampleHeadKey, false,
     "||f_h(x_j)|| of every key, per sample (Kobayashi et al. 2020)", /*of_raw_map=*/true},
    {kRowMass, StatisticShape::Head, false,
     "mean over samples and queries with n_i >= 1 of sum_j A_ij, A as stored (1 for a "
     "distribution)",
     /*of_raw_map=*/true, /*since_schema=*/3},
    {kRowAbsMass, StatisticShape::Head, false,
     "mean over samples and queries with n_i >= 1 of sum_j |A_ij|, A as stored (row_mass "
     "unless the map is signed)",
     /*of_raw_map=*/true, /*since_schema=*/3},
}};

// Whether a dump of `schema_version` lacks `statistic` because it predates it.
inline bool predates(const Statistic& statistic, std::int64_t schema_version) {
  return schema_version < statistic.since_schema;
}

// The statistic named `name`, or null.
inline const Statistic* find_statistic(const std::string& name) {
  for (const auto& statistic : kStatistics) {
    if (name == statistic.name) return &statistic;
  }
  return nullptr;
}

// What `statistic` of a layer of `map_kind` was computed on (kBasis*).
inline const char* statistic_basis(const Statistic& statistic, const std::string& map_kind) {
  return statistic.of_raw_map ? kBasisMap : map_statistics_basis(map_kind);
}

inline const char* statistic_dims(StatisticShape shape) {
  switch (shape) {
    case StatisticShape::Head: return "snapshot,head";
    case StatisticShape::HeadQuery: return "snapshot,head,query";
    case StatisticShape::SampleHeadKey: return "snapshot,sample,head,key";
  }
  return "";
}

}  // namespace attnlab::dump
