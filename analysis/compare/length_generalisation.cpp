#include "analysis/compare/length_generalisation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "analysis/figures/svg_chart.h"
#include "base/atomic_file.h"
#include "base/csv_number.h"

namespace attnlab::analysis {
namespace {

struct Scores {
  std::vector<double> accuracy, sequence_accuracy;
  std::size_t skipped = 0;
};

// Only numbers count: a diverged (null) score is left out of the mean, as compare does.
void add_number(const nlohmann::json& result, const char* name, std::vector<double>& values) {
  const auto score = json_score(result, name);
  if (score && std::isfinite(*score)) values.push_back(*score);
}

void add_result(const nlohmann::json& entry, Scores& scores) {
  const auto result = entry.find("result");
  if (result == entry.end() || !result->is_object()) {
    ++scores.skipped;
    return;
  }
  add_number(*result, "accuracy", scores.accuracy);
  add_number(*result, "sequence_accuracy", scores.sequence_accuracy);
}

std::optional<long> task_length(const nlohmann::json& entry) {
  const auto found = entry.find("task_length");
  if (found == entry.end() || !found->is_number_integer()) return std::nullopt;
  return found->get<long>();
}

// length -> the scores of a group's runs, from eval-test.json; the trained length included, and
// each length once per run (eval.lengths may repeat it or hold the trained one).
std::map<long, Scores> scores_by_length(const Group& group, bool& other_lengths) {
  std::map<long, Scores> by_length;
  for (const auto* run : group.runs) {
    const auto& evaluation = run->test_evaluation;
    if (!evaluation.is_object()) continue;
    const auto trained = task_length(evaluation);
    if (!trained) continue;
    std::set<long> seen{*trained};
    add_result(evaluation, by_length[*trained]);
    const auto lengths = evaluation.find("lengths");
    if (lengths == evaluation.end() || !lengths->is_array()) continue;
    for (const auto& entry : *lengths) {
      const auto length = task_length(entry);
      if (!length || !seen.insert(*length).second) continue;
      other_lengths = true;
      add_result(entry, by_length[*length]);
    }
  }
  return by_length;
}

long trained_length(const Group& group) {
  for (const auto* run : group.runs) {
    if (!run->test_evaluation.is_object()) continue;
    if (const auto length = task_length(run->test_evaluation)) return *length;
  }
  return 0;
}

double ratio(long length, long trained) {
  return trained > 0 ? static_cast<double>(length) / static_cast<double>(trained)
                     : std::numeric_limits<double>::quiet_NaN();
}

std::string summary_columns(const Summary& summary) {
  if (summary.n == 0) return ",,";
  return csv_number(summary.mean) + "," + csv_number(summary.std) + "," + csv_number(summary.ci95);
}

}  // namespace

std::vector<GroupLengths> length_generalisation(const Comparison& comparison) {
  std::vector<GroupLengths> groups;
  for (const auto& group : comparison.groups) {
    bool other_lengths = false;
    const auto by_length = scores_by_length(group, other_lengths);
    if (!other_lengths) continue;
    GroupLengths lengths{group.task, group.label, trained_length(group), {}};
    for (const auto& [length, scores] : by_length) {
      lengths.lengths.push_back({length, summarise(scores.accuracy),
                                 summarise(scores.sequence_accuracy), scores.skipped});
    }
    groups.push_back(lengths);
  }
  return groups;
}

std::string lengths_table(const std::vector<GroupLengths>& groups) {
  if (groups.empty()) return "";
  std::size_t width = 5;
  for (const auto& group : groups) width = std::max(width, group.label.size());
  std::string table = "test accuracy by evaluated length (mean ± 95% CI over seeds; x: the "
                      "trained length):\n";
  table += fmt::format("{:<10} {:<{}} {:>8} {:>5} {:>20}\n", "task", "group", width, "length",
                       "x", "accuracy");
  for (const auto& group : groups) {
    for (const auto& score : group.lengths) {
      const auto accuracy = score.accuracy.n > 0 ? format_summary(score.accuracy)
                                                 : std::string("skipped");
      table += fmt::format("{:<10} {:<{}} {:>8} {:>5.3g} {:>20}\n", group.task, group.label,
                           width, score.length, ratio(score.length, group.trained_length),
                           accuracy);
    }
  }
  return table;
}

std::string lengths_csv(const std::vector<GroupLengths>& groups) {
  std::string csv =
      "task,group,trained_length,length,length_ratio,n,skipped,accuracy_mean,accuracy_std,"
      "accuracy_ci95,sequence_accuracy_mean,sequence_accuracy_std,sequence_accuracy_ci95\n";
  for (const auto& group : groups) {
    for (const auto& score : group.lengths) {
      csv += fmt::format(
          "{},{},{},{},{},{},{},{},{}\n", csv_text(group.task),
          csv_text(group.label), group.trained_length, score.length,
          csv_number(ratio(score.length, group.trained_length)),
          score.accuracy.n, score.skipped, summary_columns(score.accuracy),
          summary_columns(score.sequence_accuracy));
    }
  }
  return csv;
}

std::string lengths_figure_svg(const std::vector<GroupLengths>& groups, const std::string& task) {
  std::vector<LineSeries> series;
  for (const auto& group : groups) {
    if (group.task != task) continue;
    LineSeries line;
    line.name = group.label;
    for (const auto& score : group.lengths) {
      if (score.accuracy.n == 0) continue;  // skipped by every run: no point, not a zero
      line.x.push_back(static_cast<double>(score.length));
      line.y.push_back(score.accuracy.mean);
      line.lower.push_back(score.accuracy.mean - score.accuracy.std);
      line.upper.push_back(score.accuracy.mean + score.accuracy.std);
    }
    series.push_back(line);
  }
  return line_chart_svg(task + ": test accuracy against evaluated length (mean ± std over seeds)",
                        "task.length evaluated", "accuracy", series);
}

std::vector<std::filesystem::path> write_lengths(const std::vector<GroupLengths>& groups,
                                                 const std::filesystem::path& out) {
  std::vector<std::filesystem::path> written{out / "compare_lengths.csv"};
  write_file_atomic(written.back(), lengths_csv(groups));
  std::set<std::string> tasks;
  for (const auto& group : groups) tasks.insert(group.task);
  for (const auto& task : tasks) {
    written.push_back(out / ("lengths-" + file_safe(task) + ".svg"));
    write_file_atomic(written.back(), lengths_figure_svg(groups, task));
  }
  return written;
}

}  // namespace attnlab::analysis
