#include "analysis/heads/head_figures.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "analysis/figures/heatmap_svg.h"
#include "analysis/figures/svg_chart.h"
#include "analysis/heads/analysed_map.h"

namespace attnlab::heads {
namespace {

constexpr std::int64_t kMaxMapCells = 128;
constexpr std::size_t kMaxEvolutionLines = 12;

const char* score_description(Label label) {
  switch (label) {
    case Label::Induction: return "prefix matching";
    case Label::Duplicate: return "duplicate matching";
    case Label::Previous: return "P(1)";
    case Label::Next: return "P(-1)";
    case Label::Self: return "P(0)";
    case Label::Broad: return "normalised entropy";
    case Label::Sink: return "alpha_0";
    case Label::Local: return "local mass";
    case Label::Mixed: break;
  }
  return "";
}

std::vector<const HeadResult*> heads_at(const HeadAnalysis& analysis, std::int64_t snapshot) {
  std::vector<const HeadResult*> result;
  for (const auto& head : analysis.heads) {
    if (head.snapshot == snapshot) result.push_back(&head);
  }
  return result;
}

Figure score_grid(Label label, const std::vector<const HeadResult*>& last,
                  const std::vector<dump::LayerInfo>& layers) {
  analysis::Heatmap grid;
  std::int64_t max_heads = 0;
  for (const auto& info : layers) max_heads = std::max(max_heads, info.heads);
  grid.rows = static_cast<std::int64_t>(layers.size());
  grid.columns = max_heads;
  grid.values.assign(static_cast<std::size_t>(grid.rows * grid.columns), std::nan(""));
  for (const auto* head : last) {
    grid.values[static_cast<std::size_t>(head->layer * grid.columns + head->head)] =
        label_score(head->scores, label);
  }
  for (std::size_t layer = 0; layer < layers.size(); ++layer) {
    // Scores of maps that are not distributions are on |A| row-normalised: the label says so.
    const auto& map_kind = layers[layer].map_kind;
    grid.row_labels.push_back(
        fmt::format("L{} {}{}", layer, layers[layer].kind,
                    dump::analyses_raw_map(map_kind) ? "" : " (" + map_kind + ")"));
  }
  for (std::int64_t head = 0; head < max_heads; ++head) {
    grid.column_labels.push_back(fmt::format("H{}", head));
  }
  grid.title = fmt::format("{} score ({}) at step {}; label from {:g}", label_name(label),
                           score_description(label), last.front()->step, label_threshold(label));
  grid.x_label = "head";
  grid.y_label = "layer";
  grid.annotate = grid.rows * grid.columns <= 256;
  return {fmt::format("grid_{}.svg", label_name(label)), analysis::heatmap_svg(grid)};
}

// The map the head's scores were computed on (analysed_map.h).
Figure typical_map(const HeadResult& head, const dump::DumpReader& reader) {
  const auto& info = reader.layers()[static_cast<std::size_t>(head.layer)];
  const auto allowed = reader.allowed_keys(head.layer);  // [H,Tq]
  const auto map = read_analysed_map(reader, head.layer, head.snapshot, /*sample=*/0, head.head,
                                     allowed.values.data() + head.head * info.query_length);
  analysis::Heatmap heatmap;
  std::int64_t factor = 1;
  heatmap.values = analysis::pool_map(map.weights, info.query_length, info.key_length,
                                      kMaxMapCells, heatmap.rows, heatmap.columns, factor);
  heatmap.index_scale = static_cast<double>(factor);
  heatmap.high = 0;
  for (const double value : heatmap.values) heatmap.high = std::max(heatmap.high, value);
  const auto label = head.classification.label;
  heatmap.title = fmt::format("{} head L{}H{} ({} {:.2f}), step {}, probe sample 0{}",
                              label_name(label), head.layer, head.head, score_description(label),
                              head.classification.score, head.step,
                              dump::analyses_raw_map(info.map_kind)
                                  ? ""
                                  : ", |A| row-normalised (" + info.map_kind + " map)");
  heatmap.x_label = factor > 1 ? fmt::format("key position (blocks of {})", factor) : "key position";
  heatmap.y_label = factor > 1 ? fmt::format("query (blocks of {})", factor) : "query position";
  return {fmt::format("map_{}.svg", label_name(label)), analysis::heatmap_svg(heatmap)};
}

Figure evolution(Label label, const HeadAnalysis& analysis,
                 const std::vector<const HeadResult*>& last) {
  // The heads to draw: highest final score first.
  std::vector<const HeadResult*> chosen;
  for (const auto* head : last) {
    if (!std::isnan(label_score(head->scores, label))) chosen.push_back(head);
  }
  std::stable_sort(chosen.begin(), chosen.end(), [label](const auto* a, const auto* b) {
    return label_score(a->scores, label) > label_score(b->scores, label);
  });
  if (chosen.size() > kMaxEvolutionLines) chosen.resize(kMaxEvolutionLines);
  std::vector<analysis::LineSeries> series;
  for (const auto* final_head : chosen) {
    analysis::LineSeries line;
    line.name = head_name(final_head->layer, final_head->head);
    for (const auto& head : analysis.heads) {
      if (head.layer != final_head->layer || head.head != final_head->head) continue;
      line.x.push_back(static_cast<double>(head.step));
      line.y.push_back(label_score(head.scores, label));
    }
    series.push_back(std::move(line));
  }
  if (!series.empty()) {
    analysis::LineSeries threshold;
    threshold.name = "threshold";
    threshold.dashed = true;
    threshold.x = {series.front().x.front(), series.front().x.back()};
    threshold.y = {label_threshold(label), label_threshold(label)};
    series.push_back(std::move(threshold));
  }
  return {fmt::format("evolution_{}.svg", label_name(label)),
          analysis::line_chart_svg(fmt::format("{} score ({}) over training", label_name(label),
                                               score_description(label)),
                                   "step", score_description(label), series)};
}

Figure similarity_map(const HeadSimilarity& similarity) {
  analysis::Heatmap heatmap;
  heatmap.rows = heatmap.columns = similarity.size();
  heatmap.high = 0;
  for (const auto first : similarity.order) {
    const auto& id = similarity.heads[static_cast<std::size_t>(first)];
    auto name = head_name(id.layer, id.head);
    const auto group = similarity.group[static_cast<std::size_t>(first)];
    if (group >= 0) name += fmt::format(" g{}", group);
    heatmap.row_labels.push_back(name);
    heatmap.column_labels.push_back(name);
    for (const auto second : similarity.order) {
      const double value = similarity.at(first, second);
      heatmap.values.push_back(value);
      if (std::isfinite(value)) heatmap.high = std::max(heatmap.high, value);
    }
  }
  heatmap.title = fmt::format("Jensen-Shannon divergence between heads, step {} (g: redundant group)",
                              similarity.step);
  heatmap.x_label = "head (dendrogram order)";
  heatmap.y_label = "head";
  heatmap.annotate = heatmap.rows <= 16;
  return {"similarity.svg", analysis::heatmap_svg(heatmap)};
}

}  // namespace

std::string head_name(std::int64_t layer, std::int64_t head) {
  return fmt::format("L{}H{}", layer, head);
}

std::vector<Figure> head_figures(const HeadAnalysis& analysis, const HeadSimilarity* similarity,
                                 const dump::DumpReader& reader) {
  std::vector<Figure> figures;
  if (analysis.heads.empty()) return figures;
  const auto last = heads_at(analysis, analysis.snapshots.back());
  for (const auto label : labels()) {
    if (label == Label::Mixed) continue;
    const bool any = std::any_of(last.begin(), last.end(), [label](const auto* head) {
      return !std::isnan(label_score(head->scores, label));
    });
    if (!any) continue;
    figures.push_back(score_grid(label, last, reader.layers()));
    if (analysis.snapshots.size() >= 2) figures.push_back(evolution(label, analysis, last));
    if (!reader.has_maps()) continue;
    const HeadResult* typical = nullptr;
    for (const auto* head : last) {
      if (head->classification.label != label) continue;
      if (typical == nullptr || head->classification.score > typical->classification.score) {
        typical = head;
      }
    }
    if (typical != nullptr) figures.push_back(typical_map(*typical, reader));
  }
  if (similarity != nullptr && similarity->size() > 1) figures.push_back(similarity_map(*similarity));
  return figures;
}

}  // namespace attnlab::heads
