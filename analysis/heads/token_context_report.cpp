#include "analysis/heads/token_context_report.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "analysis/figures/svg_document.h"
#include "base/csv_number.h"

namespace attnlab::heads {
namespace {

using analysis::svg_document;
using analysis::svg_escape;
using analysis::svg_stack_vertically;

const std::string& token_text(const InputTokens& inputs, std::int64_t sample,
                              std::int64_t position) {
  static const std::string kPadding = "";
  const auto& input = inputs.at(static_cast<std::size_t>(sample));
  return position < static_cast<std::int64_t>(input.size())
             ? input[static_cast<std::size_t>(position)]
             : kPadding;
}

std::string occurrence_name(const TokenContexts& contexts, std::int64_t index) {
  const auto& occurrence = contexts.occurrences.at(static_cast<std::size_t>(index));
  return fmt::format("input {} position {}", occurrence.sample, occurrence.position);
}

// Layout of one panel: tokens as words in lines, wrapped at the panel's width.
constexpr double kPanelWidth = 420, kLineHeight = 22, kCharWidth = 7.4, kPad = 8;

struct PlacedToken {
  double x, y, width;
};

std::vector<PlacedToken> place_tokens(const std::vector<std::string>& tokens, double& height) {
  std::vector<PlacedToken> placed;
  double x = kPad, y = kPad;
  for (const auto& token : tokens) {
    // Bytes over-count the width of non-ASCII text, which only leaves more room.
    const double width = std::max<double>(1, static_cast<double>(token.size())) * kCharWidth + 6;
    if (x + width > kPanelWidth - kPad && x > kPad) {
      x = kPad;
      y += kLineHeight;
    }
    placed.push_back({x, y, width});
    x += width + 3;
  }
  height = y + kLineHeight + kPad;
  return placed;
}

// One occurrence's input, each token shaded by the weight the occurrence puts on it (relative to
// the row's largest), the occurrence outlined.
std::string panel(const TokenContexts& contexts, const InputTokens& inputs,
                  const OccurrenceRow& row, double left, double top, double& height) {
  const auto& occurrence = contexts.occurrences.at(static_cast<std::size_t>(row.occurrence));
  const auto& tokens = inputs.at(static_cast<std::size_t>(occurrence.sample));
  const auto placed = place_tokens(tokens, height);
  const float largest = *std::max_element(row.weights.begin(), row.weights.end());
  std::string body = fmt::format(
      "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#555\">{} (weight shaded; largest {:.2f})"
      "</text>\n",
      left, top - 4, svg_escape(occurrence_name(contexts, row.occurrence)), largest);
  body += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
                      "stroke=\"#ccc\"/>\n", left, top, kPanelWidth, height);
  for (std::size_t i = 0; i < placed.size(); ++i) {
    const double weight = i < row.weights.size() && largest > 0 ? row.weights[i] / largest : 0.0;
    const auto& place = placed[i];
    const bool self = static_cast<std::int64_t>(i) == occurrence.position;
    body += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{}\" rx=\"3\" fill=\"#d55e00\" "
        "fill-opacity=\"{:.3f}\"{}/>\n",
        left + place.x, top + place.y, place.width, kLineHeight - 4, weight,
        self ? " stroke=\"#0072b2\" stroke-width=\"2\"" : "");
    body += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" font-family=\"monospace\" font-size=\"12\"{}>{}</text>\n",
        left + place.x + 3, top + place.y + 13, self ? " font-weight=\"bold\"" : "",
        svg_escape(tokens[i]));
  }
  return body;
}

std::string distance_text(double value) {
  return std::isnan(value) ? "n/a" : fmt::format("{:.3f}", value);
}

}  // namespace

std::string token_heads_csv(const TokenContexts& contexts) {
  std::string csv =
      "rank,layer,head,map_kind,occurrences,js_by_token,js_by_position,max_js_by_token,"
      "first_input,first_position,second_input,second_position\n";
  for (std::size_t rank = 0; rank < contexts.heads.size(); ++rank) {
    const auto& head = contexts.heads[rank];
    const auto& first = contexts.occurrences.at(static_cast<std::size_t>(head.first));
    const auto& second = contexts.occurrences.at(static_cast<std::size_t>(head.second));
    csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{}\n", rank + 1, head.layer, head.head,
                       head.map_kind, contexts.occurrences.size(), csv_number(head.by_token),
                       csv_number(head.by_position), csv_number(head.max_by_token), first.sample,
                       first.position, second.sample, second.position);
  }
  return csv;
}

std::string token_rows_csv(const TokenContexts& contexts, const InputTokens& inputs) {
  std::string csv = "layer,head,occurrence,input,position,rank,key_position,key_text,weight\n";
  for (const auto& head : contexts.heads) {
    for (const auto& row : head.rows) {
      const auto& occurrence = contexts.occurrences.at(static_cast<std::size_t>(row.occurrence));
      for (std::size_t rank = 0; rank < row.top.size(); ++rank) {
        const auto& key = row.top[rank];
        csv += fmt::format("{},{},{},{},{},{},{},{},{}\n", head.layer, head.head, row.occurrence,
                           occurrence.sample, occurrence.position, rank + 1, key.position,
                           csv_text(token_text(inputs, occurrence.sample, key.position)),
                           csv_number(key.weight));
      }
    }
  }
  return csv;
}

std::string token_context_svg(const TokenContexts& contexts, const InputTokens& inputs,
                              const std::string& token, std::size_t heads) {
  std::vector<std::string> rows;
  rows.push_back(svg_document(
      2 * kPanelWidth + 60, 34,
      fmt::format("<text x=\"20\" y=\"22\" font-size=\"15\" font-weight=\"bold\">'{}' in {} "
                  "contexts: the heads whose attention differs most (step {})</text>",
                  svg_escape(token), contexts.occurrences.size(), contexts.step)));
  for (std::size_t rank = 0; rank < std::min(heads, contexts.heads.size()); ++rank) {
    const auto& head = contexts.heads[rank];
    double left_height = 0, right_height = 0;
    const auto left = panel(contexts, inputs, head.rows.at(static_cast<std::size_t>(head.first)),
                            20, 40, left_height);
    const auto right = panel(contexts, inputs,
                             head.rows.at(static_cast<std::size_t>(head.second)),
                             40 + kPanelWidth, 40, right_height);
    const auto pairs = contexts.occurrences.size() * (contexts.occurrences.size() - 1) / 2;
    const auto title = fmt::format(
        "<text x=\"20\" y=\"18\" font-size=\"13\">layer {} head {}: JS distance {} by attended "
        "token, {} by position{}</text>\n",
        head.layer, head.head, distance_text(head.by_token), distance_text(head.by_position),
        pairs > 1 ? fmt::format(" (means over {} pairs)", pairs) : std::string());
    rows.push_back(svg_document(2 * kPanelWidth + 60, 50 + std::max(left_height, right_height),
                                title + left + right));
  }
  return svg_stack_vertically(rows);
}

std::string token_contexts_text(const TokenContexts& contexts, const InputTokens& inputs,
                                std::size_t heads) {
  std::string text = fmt::format(
      "{} occurrences; heads by Jensen-Shannon distance between them (by attended token, by "
      "position):\n", contexts.occurrences.size());
  for (std::size_t rank = 0; rank < std::min(heads, contexts.heads.size()); ++rank) {
    const auto& head = contexts.heads[rank];
    text += fmt::format("  layer {} head {}: {} by token, {} by position\n", head.layer, head.head,
                        distance_text(head.by_token), distance_text(head.by_position));
    for (const auto& row : head.rows) {
      const auto& occurrence = contexts.occurrences.at(static_cast<std::size_t>(row.occurrence));
      std::string keys;
      for (const auto& key : row.top) {
        keys += fmt::format(" {}@{} {:.2f}", token_text(inputs, occurrence.sample, key.position),
                            key.position, key.weight);
      }
      text += fmt::format("    {}:{}\n", occurrence_name(contexts, row.occurrence), keys);
    }
  }
  return text;
}

}  // namespace attnlab::heads
