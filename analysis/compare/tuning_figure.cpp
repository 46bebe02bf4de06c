#include "analysis/compare/tuning_figure.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join, there since fmt 11

#include "analysis/figures/svg_chart.h"

namespace attnlab::analysis {
namespace {

struct Axis {
  std::string label;
  std::map<std::string, double> position;  // value -> x
};

bool is_number(const std::string& text) {
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  return !text.empty() && end == text.c_str() + text.size();
}

Axis axis_for(const std::string& key, const std::vector<std::string>& values) {
  Axis axis{key, {}};
  if (!std::all_of(values.begin(), values.end(), is_number)) {
    axis.label += " (";
    for (std::size_t index = 0; index < values.size(); ++index) {
      axis.position[values[index]] = static_cast<double>(index);
      axis.label += (index == 0 ? "" : ", ") + std::to_string(index) + ": " + values[index];
    }
    axis.label += ")";
    return axis;
  }
  std::vector<double> numbers;
  for (const auto& value : values) numbers.push_back(std::strtod(value.c_str(), nullptr));
  const auto [low, high] = std::minmax_element(numbers.begin(), numbers.end());
  const bool logarithmic = *low > 0 && *high / *low >= 10.0;
  if (logarithmic) axis.label = "log10(" + key + ")";
  for (std::size_t index = 0; index < values.size(); ++index) {
    axis.position[values[index]] = logarithmic ? std::log10(numbers[index]) : numbers[index];
  }
  return axis;
}

// The values `key` takes in the task's groups, in config_value_less order.
std::vector<std::string> values_in_task(const TunedComparison& tuned, const std::string& task,
                                        const std::string& key) {
  std::set<std::string, bool (*)(const std::string&, const std::string&)> values(
      config_value_less);
  for (const auto& group : tuned.groups) {
    if (group.task != task) continue;
    for (const auto& setting : group.settings) values.insert(setting.values.at(key));
  }
  return {values.begin(), values.end()};
}

// At each value of `key`, the setting (over the other tuned keys) with the best mean validation.
std::map<std::string, const TunedSetting*> profile(const TunedGroup& group, const std::string& key,
                                                   bool higher_is_better) {
  std::map<std::string, const TunedSetting*> best;
  for (const auto& setting : group.settings) {
    auto& incumbent = best[setting.values.at(key)];
    if (incumbent == nullptr || better_score(setting.validation.mean,
                                             incumbent->validation.mean, higher_is_better)) {
      incumbent = &setting;
    }
  }
  return best;
}

LineSeries line_of(const TunedGroup& group, const std::string& key, const Axis& axis,
                   bool higher_is_better) {
  LineSeries series;
  series.name = group.label;
  std::vector<std::pair<double, const TunedSetting*>> points;
  for (const auto& [value, setting] : profile(group, key, higher_is_better)) {
    points.emplace_back(axis.position.at(value), setting);
  }
  std::sort(points.begin(), points.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [x, setting] : points) {
    const auto& validation = setting->validation;
    series.x.push_back(x);
    series.y.push_back(validation.mean);
    series.lower.push_back(validation.mean - validation.std);
    series.upper.push_back(validation.mean + validation.std);
  }
  // A diverged setting (NaN) leaves a gap in the line; a band cannot have one.
  const auto finite = [](double value) { return std::isfinite(value); };
  if (!std::all_of(series.y.begin(), series.y.end(), finite)) series.lower = series.upper = {};
  return series;
}

// The group's label without `key`'s entry: the line it belongs to.
std::string label_without(const TunedGroup& group, const std::string& key) {
  std::string label, rest = group.label;
  while (!rest.empty()) {
    const auto end = rest.find(", ");
    const auto part = rest.substr(0, end);
    rest = end == std::string::npos ? "" : rest.substr(end + 2);
    if (part.rfind(key + "=", 0) != 0) label += (label.empty() ? "" : ", ") + part;
  }
  return label.empty() ? "all" : label;
}

}  // namespace

std::vector<std::string> numeric_group_keys(const TunedComparison& tuned,
                                            const std::string& task) {
  std::vector<std::string> keys;
  for (const auto& key : tuned.group_keys) {
    std::set<std::string> values;
    bool numeric = true;
    for (const auto& group : tuned.groups) {
      if (group.task != task) continue;
      const auto found = group.keys.find(key);
      numeric = numeric && found != group.keys.end() && is_number(found->second);
      if (found != group.keys.end()) values.insert(found->second);
    }
    if (numeric && values.size() >= 2) keys.push_back(key);
  }
  return keys;
}

std::string tuned_against_figure_svg(const TunedComparison& tuned, const std::string& task,
                                     const std::string& key) {
  std::vector<std::string> values;
  std::map<std::string, std::vector<std::pair<std::string, const TunedGroup*>>> lines;
  for (const auto& group : tuned.groups) {
    if (group.task != task || group.keys.count(key) == 0) continue;
    values.push_back(group.keys.at(key));
    lines[label_without(group, key)].emplace_back(group.keys.at(key), &group);
  }
  std::sort(values.begin(), values.end(), config_value_less);
  values.erase(std::unique(values.begin(), values.end()), values.end());
  const auto axis = axis_for(key, values);
  std::vector<LineSeries> series;
  for (auto& [label, points] : lines) {
    std::sort(points.begin(), points.end(), [&](const auto& a, const auto& b) {
      return axis.position.at(a.first) < axis.position.at(b.first);
    });
    LineSeries line;
    line.name = label;
    for (const auto& [value, group] : points) {
      const auto& validation = group->choice().validation;
      line.x.push_back(axis.position.at(value));
      line.y.push_back(validation.mean);
      line.lower.push_back(validation.mean - validation.std);
      line.upper.push_back(validation.mean + validation.std);
    }
    series.push_back(line);
  }
  return line_chart_svg(task + ": validation " + tuned.metric.name + " tuned over " +
                            fmt::format("{}", fmt::join(tuned.tuned_keys, ", ")) + ", against " +
                            key,
                        axis.label, "validation " + tuned.metric.name + " (tuned)", series);
}

std::string tuning_figure_svg(const TunedComparison& tuned, const std::string& task,
                              const std::string& key) {
  const auto axis = axis_for(key, values_in_task(tuned, task, key));
  std::vector<LineSeries> lines;
  for (const auto& group : tuned.groups) {
    if (group.task == task) {
      lines.push_back(line_of(group, key, axis, tuned.metric.higher_is_better));
    }
  }
  return line_chart_svg(task + ": validation " + tuned.metric.name + " against " + key +
                            " (mean ± std over seeds)",
                        axis.label, "validation " + tuned.metric.name, lines);
}

}  // namespace attnlab::analysis
