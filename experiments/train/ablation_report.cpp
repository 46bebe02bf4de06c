#include "experiments/train/ablation_report.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "base/csv_number.h"
#include "analysis/figures/svg_chart.h"
#include "analysis/figures/svg_document.h"

namespace attnlab::train {
namespace {

using attnlab::csv_number;

// The task's extra metric names over every point (a point without one gets nan).
std::vector<std::string> extra_names(const std::vector<PruningPoint>& curve) {
  std::set<std::string> names;
  for (const auto& point : curve) {
    for (const auto& entry : point.metrics.extra) names.insert(entry.first);
  }
  return {names.begin(), names.end()};
}

analysis::LineSeries series(const std::string& name, const std::vector<PruningPoint>& curve,
                            double (*value)(const EvalMetrics&), bool dashed) {
  analysis::LineSeries line;
  line.name = name;
  line.dashed = dashed;
  for (const auto& point : curve) {
    line.x.push_back(point.fraction);
    line.y.push_back(value(point.metrics));
  }
  return line;
}

std::string signed_number(double value) { return fmt::format("{:+.4f}", value); }

}  // namespace

std::string pruning_csv(const std::vector<PruningPoint>& curve) {
  const auto extras = extra_names(curve);
  std::string text = "fraction,heads_masked,loss,accuracy,sequence_accuracy";
  for (const auto& name : extras) text += "," + name;
  text += "\n";
  for (const auto& point : curve) {
    const auto& metrics = point.metrics;
    text += fmt::format("{},{},{},{},{}", csv_number(point.fraction), point.heads_masked,
                        csv_number(metrics.loss), csv_number(metrics.accuracy),
                        csv_number(metrics.sequence_accuracy));
    for (const auto& name : extras) {
      const auto found = metrics.extra.find(name);
      text += "," + csv_number(found == metrics.extra.end() ? std::nan("") : found->second);
    }
    text += "\n";
  }
  return text;
}

std::string ablation_csv(const HeadAblation& ablation) {
  std::string text =
      "layer,head,importance,importance_normalised,loss,accuracy,delta_loss,delta_accuracy\n";
  const auto& unmasked = ablation.unmasked();
  for (std::size_t index = 0; index < ablation.heads.size(); ++index) {
    const auto& head = ablation.heads[index];
    const auto& masked = ablation.single[index];
    text += fmt::format("{},{},{},{},{},{},{},{}\n", head.layer, head.head,
                        csv_number(ablation.importance_of(head)),
                        csv_number(ablation.normalised_importance_of(head)), csv_number(masked.loss),
                        csv_number(masked.accuracy), csv_number(masked.loss - unmasked.loss),
                        csv_number(masked.accuracy - unmasked.accuracy));
  }
  return text;
}

std::string pruning_svg(const HeadAblation& ablation, const std::string& title) {
  const auto accuracy = [](const EvalMetrics& metrics) { return metrics.accuracy; };
  const auto loss = [](const EvalMetrics& metrics) { return metrics.loss; };
  const std::string increasing = "by increasing importance";
  const std::string decreasing = "by decreasing importance";
  // The decreasing order is the baseline: dashed.
  return analysis::svg_stack_vertically(
      {analysis::line_chart_svg(title + ": accuracy", "fraction of heads masked", "accuracy",
                                {series(increasing, ablation.curve, accuracy, false),
                                 series(decreasing, ablation.reverse_curve, accuracy, true)}),
       analysis::line_chart_svg(title + ": loss", "fraction of heads masked", "loss (nats)",
                                {series(increasing, ablation.curve, loss, false),
                                 series(decreasing, ablation.reverse_curve, loss, true)})});
}

std::string ablation_summary(const HeadAblation& ablation,
                             const std::vector<std::string>& layer_kinds) {
  const auto& unmasked = ablation.unmasked();
  std::string text = fmt::format(
      "head importance over {} examples (I = mean |dL/d gate|, normalised per layer), by "
      "increasing importance, and each head masked alone:\n",
      ablation.importance.examples);
  text += fmt::format("  {:>4} {:>5} {:>5} {:>4} {:>11} {:>10} {:>10} {:>10} {:>10}\n", "rank",
                      "layer", "kind", "head", "importance", "normalised", "loss", "d loss",
                      "d accuracy");
  // Long lists keep their two ends: the heads that go first and the ones that matter most.
  constexpr std::size_t kEnds = 10;
  const auto count = ablation.order.size();
  for (std::size_t rank = 0; rank < count; ++rank) {
    if (count > 3 * kEnds && rank == kEnds) {
      text += fmt::format("  {:>4} ({} more)\n", "...", count - 2 * kEnds);
      rank = count - kEnds - 1;
      continue;
    }
    const auto& head = ablation.order[rank];
    const auto index = static_cast<std::size_t>(
        std::find(ablation.heads.begin(), ablation.heads.end(), head) - ablation.heads.begin());
    const auto& masked = ablation.single.at(index);
    const auto layer = static_cast<std::size_t>(head.layer);
    text += fmt::format("  {:>4} {:>5} {:>5} {:>4} {:>11.4g} {:>10.4f} {:>10.4f} {:>10} {:>10}\n",
                        rank + 1, head.layer, layer < layer_kinds.size() ? layer_kinds[layer] : "",
                        head.head, ablation.importance_of(head),
                        ablation.normalised_importance_of(head), masked.loss,
                        signed_number(masked.loss - unmasked.loss),
                        signed_number(masked.accuracy - unmasked.accuracy));
  }
  text += "pruning curve: heads masked by increasing importance (reverse: by decreasing):\n";
  text += fmt::format("  {:>8} {:>6} {:>10} {:>10} {:>10}   {:>14} {:>16}\n", "fraction", "heads",
                      "loss", "accuracy", "seq acc", "reverse: loss", "reverse: accuracy");
  for (std::size_t point = 0; point < ablation.curve.size(); ++point) {
    const auto& forward = ablation.curve[point];
    text += fmt::format("  {:>8.3f} {:>6} {:>10.4f} {:>10.4f} {:>10.4f}", forward.fraction,
                        forward.heads_masked, forward.metrics.loss, forward.metrics.accuracy,
                        forward.metrics.sequence_accuracy);
    if (point < ablation.reverse_curve.size()) {
      const auto& reverse = ablation.reverse_curve[point].metrics;
      text += fmt::format("   {:>14.4f} {:>16.4f}", reverse.loss, reverse.accuracy);
    }
    text += "\n";
  }
  return text;
}

}  // namespace attnlab::train
