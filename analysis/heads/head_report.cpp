#include "analysis/heads/head_report.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "base/csv_number.h"
#include "analysis/heads/analysed_map.h"
#include "analysis/heads/head_thresholds.h"

namespace attnlab::heads {
namespace {

using attnlab::csv_number;

std::string row_prefix(const HeadResult& head) {
  return fmt::format("{},{},{},{},", head.snapshot, head.step, head.layer, head.head);
}

const std::string& map_kind_of(const HeadAnalysis& analysis, const HeadResult& head) {
  return analysis.map_kinds.at(static_cast<std::size_t>(head.layer));
}

}  // namespace

std::string heads_csv(const HeadAnalysis& analysis) {
  std::string text = "snapshot,step,layer,head,metric,value,map_kind,computed_on\n";
  for (const auto& head : analysis.heads) {
    const auto prefix = row_prefix(head);
    const auto& map_kind = map_kind_of(analysis, head);
    for (std::size_t metric = 0; metric < analysis.metric_names.size(); ++metric) {
      text += fmt::format("{}{},{},{},{}\n", prefix, analysis.metric_names[metric],
                          csv_number(head.values[metric]), map_kind,
                          analysis.metric_basis(metric, head.layer));
    }
  }
  return text;
}

// A label is decided on map scores, or on the dump's map statistics without maps: both are on
// the analysed map.
std::string classes_csv(const HeadAnalysis& analysis) {
  std::string text = "snapshot,step,layer,head,label,score,map_kind,computed_on\n";
  for (const auto& head : analysis.heads) {
    const auto& map_kind = map_kind_of(analysis, head);
    text += fmt::format("{}{},{},{},{}\n", row_prefix(head),
                        label_name(head.classification.label),
                        csv_number(head.classification.score), map_kind,
                        dump::map_statistics_basis(map_kind));
  }
  return text;
}

std::string similarity_csv(const HeadSimilarity& similarity) {
  std::string text = "snapshot,step,layer_a,head_a,layer_b,head_b,distance,group_a,group_b\n";
  for (std::int64_t a = 0; a < similarity.size(); ++a) {
    const auto& first = similarity.heads[static_cast<std::size_t>(a)];
    for (std::int64_t b = 0; b < similarity.size(); ++b) {
      const auto& second = similarity.heads[static_cast<std::size_t>(b)];
      text += fmt::format("{},{},{},{},{},{},{},{},{}\n", similarity.snapshot, similarity.step,
                          first.layer, first.head, second.layer, second.head,
                          csv_number(similarity.at(a, b)), similarity.group[static_cast<std::size_t>(a)],
                          similarity.group[static_cast<std::size_t>(b)]);
    }
  }
  return text;
}

std::string similarity_text(const HeadSimilarity& similarity) {
  std::map<std::int64_t, std::vector<std::int64_t>> groups;
  for (std::int64_t head = 0; head < similarity.size(); ++head) {
    const auto group = similarity.group[static_cast<std::size_t>(head)];
    if (group >= 0) groups[group].push_back(head);
  }
  std::string text = fmt::format(
      "redundant heads at step {} (mean Jensen-Shannon divergence per query <= {:g} nats): ",
      similarity.step, kRedundantDistance);
  if (groups.empty()) return text + "none\n";
  text += fmt::format("{} group(s)\n", groups.size());
  for (const auto& [group, members] : groups) {
    std::string names;
    double sum = 0;
    std::int64_t pairs = 0;
    for (const auto a : members) {
      const auto& id = similarity.heads[static_cast<std::size_t>(a)];
      names += fmt::format(" L{}H{}", id.layer, id.head);
      for (const auto b : members) {
        if (b > a) sum += similarity.at(a, b), ++pairs;
      }
    }
    text += fmt::format("  group {}:{} (mean distance {:.3f})\n", group, names,
                        sum / static_cast<double>(pairs));
  }
  return text;
}

std::string summary_text(const HeadAnalysis& analysis, const std::vector<dump::LayerInfo>& layers) {
  if (analysis.heads.empty()) return "no heads analysed\n";
  const auto last_snapshot = analysis.snapshots.back();
  std::map<std::pair<std::int64_t, std::int64_t>, const HeadResult*> last;
  std::int64_t max_heads = 0;
  std::int64_t last_step = 0;
  for (const auto& head : analysis.heads) {
    if (head.snapshot != last_snapshot) continue;
    last[{head.layer, head.head}] = &head;
    max_heads = std::max(max_heads, head.head + 1);
    last_step = head.step;
  }

  std::string text;
  for (std::size_t layer = 0; layer < layers.size(); ++layer) {
    if (dump::analyses_raw_map(layers[layer].map_kind)) continue;
    text += fmt::format("layer {:02}: {}\n", layer,
                        analysed_map_description(layers[layer].map_kind));
  }
  text += fmt::format("labels at step {} (snapshot {}):\n", last_step, last_snapshot);
  text += fmt::format("{:<24}", "layer");
  for (std::int64_t head = 0; head < max_heads; ++head) {
    text += fmt::format(" {:<16}", fmt::format("head {}", head));
  }
  text += "\n";
  for (std::size_t layer = 0; layer < layers.size(); ++layer) {
    const auto& info = layers[layer];
    text += fmt::format("{:<24}", fmt::format("{:02} {} {}", layer, info.kind,
                                              info.causal ? "causal" : "bidirectional"));
    for (std::int64_t head = 0; head < info.heads; ++head) {
      const auto* result = last.at({static_cast<std::int64_t>(layer), head});
      text +=
          fmt::format(" {:<16}", fmt::format("{} {:.2f}", label_name(result->classification.label),
                                             result->classification.score));
    }
    text += "\n";
  }

  // Formation: the first selected snapshot at which each head's final label passed.
  text += "first step at which each head passed its final label's threshold:\n";
  for (const auto& [key, result] : last) {
    const auto label = result->classification.label;
    if (label == Label::Mixed) continue;
    for (const auto& head : analysis.heads) {
      if (head.layer != key.first || head.head != key.second || !passes(head.scores, label)) {
        continue;
      }
      text += fmt::format(
          "  layer {:02} head {}: {:<10} from step {} (score {:.2f}; {:.2f} at step {})\n",
          key.first, key.second, label_name(label), head.step, label_score(head.scores, label),
          result->classification.score, last_step);
      break;
    }
  }
  return text;
}

}  // namespace attnlab::heads
