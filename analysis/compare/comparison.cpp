#include "analysis/compare/comparison.h"

#include <algorithm>
#include <cmath>
#include <cctype>
#include <optional>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "analysis/figures/svg_chart.h"
#include "base/atomic_file.h"

namespace attnlab::analysis {
namespace {

std::optional<double> metric_value(const RunResult& run, const MetricSpec& spec) {
  const auto pointer = nlohmann::json::json_pointer(spec.summary_key);
  if (!run.summary.contains(pointer)) return std::nullopt;
  const auto& value = run.summary.at(pointer);
  if (!value.is_number()) return std::nullopt;
  return value.get<double>();
}

}  // namespace

const std::vector<MetricSpec>& compared_metrics() {
  static const std::vector<MetricSpec> specs = {
      {"val_accuracy", "/final/val_accuracy", true},
      {"val_sequence_accuracy", "/final/val_sequence_accuracy", true},
      {"val_loss", "/final/val_loss", false},
      {"best_val_accuracy", "/best/val_accuracy", true},
      {"tokens_per_s", "/tokens_per_s", true},
      {"peak_rss_mb", "/peak_rss_mb", false},
      {"parameters", "/parameters", false},
      {"wall_time_s", "/wall_time_s", false},
  };
  return specs;
}

bool ignored_for_grouping(const std::string& key) {
  return key == "seed" || key.rfind("runtime.", 0) == 0 || key == "experiment.results_dir";
}

// Varying keys a varying group choice (`<group>.name`) already determines, e.g. variant.score
// under variant.name: naming them again would only lengthen every label.
std::set<std::string> implied_keys(const std::vector<std::string>& varying,
                                   const std::vector<const RunResult*>& runs) {
  auto is_choice = [](const std::string& key) {
    return key.size() > 5 && key.compare(key.size() - 5, 5, ".name") == 0;
  };
  std::set<std::string> implied;
  for (const auto& key : varying) {
    if (is_choice(key)) continue;
    for (const auto& choice : varying) {
      if (!is_choice(choice)) continue;
      std::map<std::string, std::string> value_of_choice;
      bool determined = true;
      for (const auto* run : runs) {
        const auto [entry, added] =
            value_of_choice.emplace(run->config_value(choice), run->config_value(key));
        if (!added && entry->second != run->config_value(key)) determined = false;
      }
      if (determined) implied.insert(key);
    }
  }
  return implied;
}

bool label_names(const RunResult& run, const std::string& key) {
  if (key == "task.name") return false;  // every table and figure shows the task by itself
  const auto& value = run.config_value(key);
  return !value.empty() && value != "[]";
}

std::string file_safe(const std::string& text) {
  std::string out;
  for (char c : text) out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '_';
  return out.empty() ? "all" : out;
}

Comparison compare_runs(const std::vector<RunResult>& runs) {
  Comparison comparison;
  std::vector<const RunResult*> completed;
  for (const auto& run : runs) (run.completed() ? completed : comparison.not_completed).push_back(&run);

  std::set<std::string> all_keys;
  for (const auto* run : completed) {
    for (const auto& [key, value] : run->config) all_keys.insert(key);
  }
  for (const auto& key : all_keys) {
    if (ignored_for_grouping(key)) continue;
    // A key some configs lack was added to attnlab after those runs were made; they ran as it
    // now defaults to, so it does not split them from the runs that have it, as long as those
    // agree on its value.
    std::set<std::string> values;
    for (const auto* run : completed) {
      if (run->config.count(key) > 0) values.insert(run->config_value(key));
    }
    if (values.size() > 1) comparison.varying_keys.push_back(key);
  }

  const auto implied = implied_keys(comparison.varying_keys, completed);
  std::map<std::pair<std::string, std::string>, Group> by_label;  // (task, label) -> group
  for (const auto* run : completed) {
    std::map<std::string, std::string> keys;
    std::string label;
    for (const auto& key : comparison.varying_keys) {
      keys[key] = run->config_value(key);
      if (implied.count(key) == 0 && label_names(*run, key)) {
        label += (label.empty() ? "" : ", ") + key + "=" + keys[key];
      }
    }
    if (label.empty()) label = run->config_value("variant.name");
    auto& group = by_label[{run->config_value("task.name"), label}];
    group.label = label;
    group.keys = keys;
    group.task = run->config_value("task.name");
    group.runs.push_back(run);
  }
  for (auto& [identity, group] : by_label) {
    for (const auto& spec : compared_metrics()) {
      std::vector<double> values;
      for (const auto* run : group.runs) {
        if (auto value = metric_value(*run, spec)) values.push_back(*value);
      }
      group.metrics[spec.name] = summarise(values);
    }
    comparison.groups.push_back(group);
  }
  // Rank within each task: higher mean final accuracy first, lower loss breaking ties.
  std::sort(comparison.groups.begin(), comparison.groups.end(), [](const Group& a, const Group& b) {
    if (a.task != b.task) return a.task < b.task;
    const double accuracy_a = a.metrics.at("val_accuracy").mean;
    const double accuracy_b = b.metrics.at("val_accuracy").mean;
    if (accuracy_a != accuracy_b) return accuracy_a > accuracy_b;
    return a.metrics.at("val_loss").mean < b.metrics.at("val_loss").mean;
  });
  std::string task;
  int rank = 0;
  for (auto& group : comparison.groups) {
    rank = group.task == task ? rank + 1 : 1;
    task = group.task;
    group.rank = rank;
  }
  return comparison;
}

std::string comparison_table(const Comparison& comparison) {
  std::string out = fmt::format("{:<6} {:<10} {:<40} {:>3} {:>18} {:>18} {:>12} {:>10}\n", "rank",
                                "task", "group", "n", "val_accuracy", "val_loss", "tokens/s",
                                "peak MB");
  for (const auto& group : comparison.groups) {
    out += fmt::format("{:<6} {:<10} {:<40} {:>3} {:>18} {:>18} {:>12.0f} {:>10.0f}\n",
                       group.rank, group.task, group.label, group.runs.size(),
                       format_summary(group.metrics.at("val_accuracy")),
                       format_summary(group.metrics.at("val_loss")),
                       group.metrics.at("tokens_per_s").mean, group.metrics.at("peak_rss_mb").mean);
  }
  if (!comparison.not_completed.empty()) {
    out += "\nnot completed (not averaged in):\n";
    for (const auto* run : comparison.not_completed) {
      out += fmt::format("  {}  {}\n", run->dir.string(), run->status);
    }
  }
  return out;
}

std::string comparison_markdown(const Comparison& comparison) {
  std::string out = "# Comparison\n\nMean ± 95% confidence half-width (t distribution) over seeds; "
                    "n = completed runs per group. Ranked by final validation accuracy within "
                    "each task.\n\n";
  out += "| rank | task | group | n |";
  for (const auto& spec : compared_metrics()) out += " " + spec.name + " |";
  out += "\n|---|---|---|---|";
  for (std::size_t i = 0; i < compared_metrics().size(); ++i) out += "---|";
  out += "\n";
  for (const auto& group : comparison.groups) {
    out += fmt::format("| {} | {} | {} | {} |", group.rank, group.task, group.label, group.runs.size());
    for (const auto& spec : compared_metrics()) out += " " + format_summary(group.metrics.at(spec.name)) + " |";
    out += "\n";
  }
  if (!comparison.not_completed.empty()) {
    out += "\n## Not completed (not averaged in)\n\n";
    for (const auto* run : comparison.not_completed) {
      out += fmt::format("- `{}`: {}\n", run->dir.string(), run->status);
    }
  }
  return out;
}

std::string comparison_csv(const Comparison& comparison) {
  std::string out = "task,group,rank,metric,n,mean,std,ci95,min,max\n";
  auto quote = [](const std::string& text) {
    std::string quoted = "\"";
    for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
  };
  for (const auto& group : comparison.groups) {
    for (const auto& spec : compared_metrics()) {
      const auto& summary = group.metrics.at(spec.name);
      out += fmt::format("{},{},{},{},{},{},{},{},{},{}\n", quote(group.task), quote(group.label),
                         group.rank, spec.name, summary.n, summary.mean, summary.std,
                         summary.ci95, summary.min, summary.max);
    }
  }
  return out;
}

std::vector<std::filesystem::path> write_comparison(const Comparison& comparison,
                                                    const std::filesystem::path& out,
                                                    const std::string& more_markdown) {
  std::filesystem::create_directories(out);
  std::vector<std::filesystem::path> written = {out / "compare.md", out / "compare.csv"};
  write_file_atomic(written[0], comparison_markdown(comparison) + more_markdown);
  write_file_atomic(written[1], comparison_csv(comparison));

  std::map<std::string, std::vector<const Group*>> by_task;
  for (const auto& group : comparison.groups) by_task[group.task].push_back(&group);
  for (const auto& [task, groups] : by_task) {
    std::vector<LineSeries> curves;
    std::vector<Bar> bars;
    for (const auto* group : groups) {
      // Steps every seed logged, so the band is over all seeds at each point.
      std::map<long, std::vector<double>> at_step;
      for (const auto* run : group->runs) {
        for (const auto& point : run->val_curve) at_step[point.step].push_back(point.accuracy);
      }
      LineSeries series;
      series.name = group->label;
      for (const auto& [step, values] : at_step) {
        if (values.size() != group->runs.size()) continue;
        const auto summary = summarise(values);
        series.x.push_back(static_cast<double>(step));
        series.y.push_back(summary.mean);
        series.lower.push_back(summary.mean - summary.std);
        series.upper.push_back(summary.mean + summary.std);
      }
      curves.push_back(series);
      const auto& accuracy = group->metrics.at("val_accuracy");
      bars.push_back({group->label, accuracy.mean, accuracy.ci95});
    }
    const auto curve_file = out / ("curves-" + file_safe(task) + ".svg");
    write_file_atomic(curve_file,
                      line_chart_svg(task + ": validation accuracy (mean ± std over seeds)", "step",
                                     "accuracy", curves));
    const auto bar_file = out / ("bars-" + file_safe(task) + ".svg");
    write_file_atomic(bar_file,
                      bar_chart_svg(task + ": final validation accuracy (95% CI)", "accuracy", bars));
    written.push_back(curve_file);
    written.push_back(bar_file);
  }
  return written;
}

}  // namespace attnlab::analysis
