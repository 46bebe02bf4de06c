#include "analysis/compare/run_results.h"

#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace attnlab::analysis {
namespace {

// The shortest text that reads back the same, as attnlab writes config.toml: 0.003, not the
// 0.0030000000000000001 a stream prints.
std::string float_text(double value) {
  std::string text = fmt::format("{}", value);
  if (text.find_first_of(".eni") == std::string::npos) text += ".0";
  return text;
}

void flatten(const toml::table& table, const std::string& prefix,
             std::map<std::string, std::string>& out) {
  for (const auto& [key, node] : table) {
    const std::string path = prefix.empty() ? std::string(key.str())
                                            : prefix + "." + std::string(key.str());
    if (const auto* child = node.as_table()) {
      flatten(*child, path, out);
    } else if (const auto* text = node.as_string()) {
      out[path] = text->get();  // unquoted, as people write labels
    } else if (const auto* number = node.as_floating_point()) {
      out[path] = float_text(number->get());
    } else {
      std::ostringstream value;
      node.visit([&value](const auto& leaf) { value << leaf; });
      out[path] = value.str();
    }
  }
}

// A metric of a metrics.jsonl row; 0 for one the row does not log.
double number(const nlohmann::json& row, const std::string& name) {
  return json_score(row, name).value_or(0.0);
}

// The numbers of a validation row besides step, loss and the accuracies (null: NaN, as above).
std::map<std::string, double> other_numbers(const nlohmann::json& row) {
  static const std::set<std::string> common = {"step", "accuracy", "loss", "sequence_accuracy"};
  std::map<std::string, double> metrics;
  for (const auto& [name, value] : row.items()) {
    if (common.count(name) == 0 && (value.is_number() || value.is_null())) {
      metrics[name] = number(row, name);
    }
  }
  return metrics;
}

}  // namespace

const std::string& RunResult::config_value(const std::string& key) const {
  static const std::string empty;
  const auto found = config.find(key);
  return found == config.end() ? empty : found->second;
}

RunResult load_run(const std::filesystem::path& dir) {
  RunResult run;
  run.dir = dir;
  try {
    flatten(toml::parse_file((dir / "config.toml").string()), "", run.config);
  } catch (const toml::parse_error& error) {
    run.status = "unreadable config.toml: " + std::string(error.description());
    return run;
  }
  std::ifstream summary(dir / "summary.json");
  if (!summary) {
    run.status = "incomplete (no summary.json)";
  } else {
    run.summary = nlohmann::json::parse(summary, nullptr, /*allow_exceptions=*/false);
    if (run.summary.is_discarded()) {
      run.status = "unreadable summary.json";
    } else {
      run.status = run.summary.value("status", std::string("unknown"));
    }
  }
  std::ifstream metrics(dir / "metrics.jsonl");
  std::string line;
  while (std::getline(metrics, line)) {
    const auto row = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (row.is_discarded() || row.value("split", "") != "val") continue;
    run.val_curve.push_back({row.value("step", 0L), number(row, "accuracy"), number(row, "loss"),
                             number(row, "sequence_accuracy"), other_numbers(row)});
  }
  std::ifstream test(dir / "eval-test.json");
  if (test) {
    run.test_evaluation = nlohmann::json::parse(test, nullptr, /*allow_exceptions=*/false);
    if (run.test_evaluation.is_discarded()) run.test_evaluation = nullptr;
  }
  return run;
}

std::vector<RunResult> load_runs(const std::vector<std::filesystem::path>& roots) {
  std::set<std::filesystem::path> found;
  for (const auto& root : roots) {
    if (!std::filesystem::exists(root)) {
      throw std::invalid_argument("no such directory: " + root.string());
    }
    const auto before = found.size();
    if (std::filesystem::exists(root / "config.toml")) found.insert(root);
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
      if (entry.is_directory() && std::filesystem::exists(entry.path() / "config.toml")) {
        found.insert(entry.path());
      }
    }
    if (found.size() == before) {
      throw std::invalid_argument("no run directory (with config.toml) under " + root.string());
    }
  }
  std::vector<RunResult> runs;
  for (const auto& dir : found) runs.push_back(load_run(dir));
  return runs;
}

std::optional<double> json_score(const nlohmann::json& object, const std::string& name) {
  const auto found = object.find(name);
  if (found == object.end()) return std::nullopt;
  return found->is_number() ? found->get<double>() : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace attnlab::analysis
