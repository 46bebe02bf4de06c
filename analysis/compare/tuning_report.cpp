#include "analysis/compare/tuning_report.h"

#include <cctype>
#include <cmath>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join, there since fmt 11

#include "analysis/compare/tuning_figure.h"
#include "base/atomic_file.h"
#include "base/csv_number.h"

namespace attnlab::analysis {
namespace {

std::string chosen_text(const TunedGroup& group) {
  std::string text;
  for (const auto& [key, value] : group.choice().values) {
    text += (text.empty() ? "" : ", ") + key + "=" + value;
  }
  return text;
}

std::string rank_text(const TunedGroup& group) {
  return group.rank > 0 ? std::to_string(group.rank) : "-";
}

// Empty (NaN to pandas) when there is no value: no test score, or a diverged one.
std::string score_field(double value, bool present = true) {
  return present && std::isfinite(value) ? csv_number(value) : "";
}

std::string untested_note(const TunedComparison& tuned, const std::string& bullet) {
  std::string note;
  for (const auto& group : tuned.groups) {
    for (const auto* run : group.untested) note += bullet + run->dir.string() + "\n";
  }
  if (note.empty()) return note;
  return "\nchosen runs without a test score (eval-test.json; run `attnlab eval --run RUN "
         "--split test`), left out of their group's test column:\n" + note;
}

}  // namespace

std::string tuned_table(const TunedComparison& tuned) {
  const auto& metric = tuned.metric.name;
  std::string out = fmt::format("tuned over {} by mean validation {} over seeds; test {} of the "
                                "chosen setting:\n",
                                fmt::join(tuned.tuned_keys, ", "), metric, metric);
  out += fmt::format("{:<6} {:<10} {:<32} {:<24} {:>5} {:>3} {:>18} {:>18}\n", "rank", "task",
                     "group", "chosen", "tried", "n", "val " + metric, "test " + metric);
  for (const auto& group : tuned.groups) {
    out += fmt::format("{:<6} {:<10} {:<32} {:<24} {:>5} {:>3} {:>18} {:>18}\n", rank_text(group),
                       group.task, group.label, chosen_text(group), group.settings.size(),
                       group.choice().group->runs.size(), format_summary(group.choice().validation),
                       format_summary(group.test));
  }
  return out + untested_note(tuned, "  ");
}

std::string tuned_markdown(const TunedComparison& tuned) {
  const auto& metric = tuned.metric.name;
  std::string out = fmt::format(
      "\n## Tuned over {keys}\n\nFor each group, the setting of {keys} with the best mean "
      "validation {metric} over seeds (at the checkpoint that was tested, else the best one) is "
      "chosen; its test {metric} (`eval-test.json`) is reported, mean ± 95% confidence "
      "half-width over seeds. The choice never reads test scores. The validation column is the "
      "score the choice was made on, biased upward by it. Ranked by test {metric} within each "
      "task.\n\n| rank | task | group | chosen | settings tried | n | val {metric} (chosen) | "
      "test {metric} |\n|---|---|---|---|---|---|---|---|\n",
      fmt::arg("keys", fmt::format("`{}`", fmt::join(tuned.tuned_keys, "`, `"))),
      fmt::arg("metric", metric));
  for (const auto& group : tuned.groups) {
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} |\n", rank_text(group), group.task,
                       group.label, chosen_text(group), group.settings.size(),
                       group.choice().group->runs.size(), format_summary(group.choice().validation),
                       format_summary(group.test));
  }
  return out + untested_note(tuned, "- ");
}

std::string tuned_csv(const TunedComparison& tuned) {
  std::string out = "task,group,rank";
  for (const auto& key : tuned.group_keys) out += "," + key;
  for (const auto& key : tuned.tuned_keys) out += ",chosen_" + key;
  out += ",settings_tried,metric,seeds,val_mean,val_std,test_n,test_mean,test_std,test_ci95\n";
  for (const auto& group : tuned.groups) {
    out += csv_text(group.task) + "," + csv_text(group.label) + "," +
           (group.rank > 0 ? std::to_string(group.rank) : "");
    for (const auto& key : tuned.group_keys) out += "," + csv_text(group.keys.at(key));
    for (const auto& key : tuned.tuned_keys) out += "," + csv_text(group.choice().values.at(key));
    const auto& validation = group.choice().validation;
    const bool tested = group.test.n > 0;
    out += fmt::format(",{},{},{},{},{},{},{},{},{}\n", group.settings.size(), tuned.metric.name,
                       validation.n, score_field(validation.mean), score_field(validation.std),
                       group.test.n, score_field(group.test.mean, tested),
                       score_field(group.test.std, tested), score_field(group.test.ci95, tested));
  }
  return out;
}

std::vector<std::filesystem::path> write_tuned(const TunedComparison& tuned,
                                               const std::filesystem::path& out) {
  std::vector<std::filesystem::path> written = {out / "compare_tuned.csv"};
  write_file_atomic(written[0], tuned_csv(tuned));
  std::set<std::string> tasks;
  for (const auto& group : tuned.groups) tasks.insert(group.task);
  for (const auto& task : tasks) {
    for (const auto& key : tuned.tuned_keys) {
      written.push_back(out / ("tune-" + file_safe(task) + "-" + file_safe(key) + ".svg"));
      write_file_atomic(written.back(), tuning_figure_svg(tuned, task, key));
    }
    for (const auto& key : numeric_group_keys(tuned, task)) {
      written.push_back(out / ("tuned-" + file_safe(task) + "-by-" + file_safe(key) + ".svg"));
      write_file_atomic(written.back(), tuned_against_figure_svg(tuned, task, key));
    }
  }
  return written;
}

}  // namespace attnlab::analysis
