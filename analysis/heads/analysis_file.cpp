#include "analysis/heads/analysis_file.h"

#include <algorithm>
#include <cmath>

#include "analysis/heads/head_classes.h"

namespace attnlab::heads {
namespace {

using dump::check;
using dump::Handle;

constexpr int kCompression = 4;

}  // namespace

void write_analysis_file(const std::filesystem::path& path, const HeadAnalysis& analysis,
                         const HeadSimilarity* similarity,
                         const std::vector<dump::LayerInfo>& layers,
                         const std::filesystem::path& dump_path) {
  const dump::QuietErrors quiet;
  const std::string context = "analysis file " + path.string();
  Handle file(check(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), context),
              H5Fclose);
  const hid_t root = file.get();
  dump::write_attribute(root, "schema", std::string(kAnalysisSchema), context);
  dump::write_attribute(root, "schema_version", kAnalysisSchemaVersion, context);
  dump::write_attribute(root, "dump", dump_path.string(), context);

  const auto snapshots = static_cast<hsize_t>(analysis.snapshots.size());
  const auto layer_count = static_cast<hsize_t>(layers.size());
  hsize_t max_heads = 0;
  for (const auto& info : layers) max_heads = std::max<hsize_t>(max_heads, info.heads);
  const auto metrics = static_cast<hsize_t>(analysis.metric_names.size());

  std::vector<std::int64_t> steps(snapshots, 0);
  std::vector<double> values(snapshots * layer_count * max_heads * metrics, std::nan(""));
  std::vector<std::int8_t> labels(snapshots * layer_count * max_heads, -1);
  std::vector<double> scores(labels.size(), std::nan(""));
  for (const auto& head : analysis.heads) {
    const auto position = std::find(analysis.snapshots.begin(), analysis.snapshots.end(),
                                    head.snapshot) - analysis.snapshots.begin();
    const auto n = static_cast<hsize_t>(position);
    steps[n] = head.step;
    const auto cell = (n * layer_count + static_cast<hsize_t>(head.layer)) * max_heads +
                      static_cast<hsize_t>(head.head);
    std::copy(head.values.begin(), head.values.end(), values.begin() + cell * metrics);
    const auto& order = heads::labels();
    labels[cell] = static_cast<std::int8_t>(
        std::find(order.begin(), order.end(), head.classification.label) - order.begin());
    scores[cell] = head.classification.score;
  }
  std::vector<std::string> label_names;
  for (const auto label : heads::labels()) label_names.push_back(label_name(label));

  dump::write_dataset(root, "steps", H5T_STD_I64LE, H5T_NATIVE_INT64, {snapshots}, steps.data(),
                      "snapshot", "training step of each analysed snapshot", 0, context);
  dump::write_dataset(root, "snapshots", H5T_STD_I64LE, H5T_NATIVE_INT64, {snapshots},
                      analysis.snapshots.data(), "snapshot",
                      "index of each analysed snapshot among the dump's complete snapshots", 0,
                      context);
  dump::write_strings(root, "metric_names", analysis.metric_names,
                      "metric names, the last axis of /metrics (heads.csv's metric column)",
                      context);
  std::vector<std::int8_t> of_raw_map(analysis.metric_of_raw_map.begin(),
                                      analysis.metric_of_raw_map.end());
  dump::write_dataset(root, "metric_of_raw_map", H5T_STD_I8LE, H5T_NATIVE_INT8, {metrics},
                      of_raw_map.data(), "metric",
                      "1: computed on the map A as stored whatever its kind; 0: on the layer's "
                      "analysed map (/map_bases)",
                      0, context);
  std::vector<std::string> bases;
  for (const auto& kind : analysis.map_kinds) bases.push_back(dump::map_statistics_basis(kind));
  dump::write_strings(root, "map_kinds", analysis.map_kinds,
                      "each layer's map kind: distribution, partial, unnormalised or signed",
                      context);
  dump::write_strings(root, "map_bases", bases,
                      "what each layer's map scores and labels are computed on: map (A as "
                      "stored) or normalised_abs_map (|A_ij| / sum_l |A_il|)",
                      context);
  dump::write_dataset(root, "metrics", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                      {snapshots, layer_count, max_heads, metrics}, values.data(),
                      "snapshot,layer,head,metric", "per-head metrics (NaN: undefined or no such head)",
                      kCompression, context);
  dump::write_strings(root, "label_names", label_names, "head labels in classification order",
                      context);
  dump::write_dataset(root, "labels", H5T_STD_I8LE, H5T_NATIVE_INT8,
                      {snapshots, layer_count, max_heads}, labels.data(), "snapshot,layer,head",
                      "index into /label_names, -1 where the layer has no such head",
                      kCompression, context);
  dump::write_dataset(root, "label_scores", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                      {snapshots, layer_count, max_heads}, scores.data(), "snapshot,layer,head",
                      "the score behind each label (for mixed: the best score/threshold ratio)",
                      kCompression, context);

  if (similarity == nullptr) return;
  Handle group(check(H5Gcreate2(root, "similarity", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                     context),
               H5Gclose);
  dump::write_attribute(group.get(), "step", similarity->step, context);
  dump::write_attribute(group.get(), "snapshot", similarity->snapshot, context);
  const auto count = static_cast<hsize_t>(similarity->size());
  std::vector<std::int64_t> ids;
  for (const auto& id : similarity->heads) ids.push_back(id.layer), ids.push_back(id.head);
  std::vector<double> linkage;
  for (const auto& merge : similarity->merges) {
    linkage.insert(linkage.end(), {static_cast<double>(merge.first),
                                   static_cast<double>(merge.second), merge.distance,
                                   static_cast<double>(merge.size)});
  }
  dump::write_dataset(group.get(), "heads", H5T_STD_I64LE, H5T_NATIVE_INT64, {count, 2},
                      ids.data(), "head,(layer|head)", "layer and head of each compared head", 0,
                      context);
  dump::write_dataset(group.get(), "distance", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {count, count},
                      similarity->distance.data(), "head,head",
                      "mean Jensen-Shannon divergence per query row, nats (NaN: not comparable)",
                      kCompression, context);
  dump::write_dataset(group.get(), "linkage", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                      {count == 0 ? 0 : count - 1, 4}, linkage.data(), "merge,(a|b|distance|size)",
                      "average-linkage merges (scipy.cluster.hierarchy linkage matrix)", 0,
                      context);
  dump::write_dataset(group.get(), "order", H5T_STD_I64LE, H5T_NATIVE_INT64, {count},
                      similarity->order.data(), "position", "dendrogram leaf order", 0, context);
  dump::write_dataset(group.get(), "group", H5T_STD_I64LE, H5T_NATIVE_INT64, {count},
                      similarity->group.data(), "head", "redundant group, -1 for none", 0,
                      context);
  if (!file.reset()) throw dump::DumpError(context + ": closing failed: " + dump::last_error());
}

}  // namespace attnlab::heads
