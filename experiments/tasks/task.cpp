#include "experiments/tasks/task.h"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "experiments/tasks/cls_token.h"

namespace attnlab::tasks {

std::string split_name(Split split) {
  switch (split) {
    case Split::Train: return "train";
    case Split::Val: return "val";
    case Split::Test: return "test";
  }
  return "unknown";
}

Split parse_split(const std::string& name) {
  if (name == "train") return Split::Train;
  if (name == "val") return Split::Val;
  if (name == "test") return Split::Test;
  throw config::ConfigError("unknown split '" + name + "'; valid splits: train, val, test");
}

void MetricSums::add(const std::string& name, double sum, double count) {
  auto& entry = sums_[name];
  entry.first += sum;
  entry.second += count;
}

std::map<std::string, double> MetricSums::means() const {
  std::map<std::string, double> result;
  for (const auto& [name, entry] : sums_) {
    if (entry.second > 0) result[name] = entry.first / entry.second;
  }
  return result;
}

std::vector<std::int64_t> Task::encode(const std::string& text) const {
  std::istringstream words(text);
  std::vector<std::int64_t> tokens;
  for (std::string word; words >> word;) {
    std::size_t used = 0;
    std::int64_t token = -1;
    try {
      token = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size() || token < 0 || token >= vocab_size()) {
      throw std::invalid_argument("'" + word + "' is not a token id of this task (0 to " +
                                  std::to_string(vocab_size() - 1) +
                                  "; its inputs are space-separated ids)");
    }
    tokens.push_back(token);
  }
  return tokens;
}

TaskRegistry& task_registry() {
  static TaskRegistry registry("task", "task.name");
  return registry;
}

std::shared_ptr<Task> make_task(const config::Config& config) {
  std::shared_ptr<Task> task;
  try {
    task = task_registry().at(config.get_string("task.name")).make(config);
  } catch (const std::invalid_argument& error) {
    throw config::ConfigError(error.what());
  }
  const auto archs = task->supported_archs();
  const auto arch = config.get_string("model.arch");
  if (std::find(archs.begin(), archs.end(), arch) == archs.end()) {
    std::string valid;
    for (const auto& name : archs) valid += (valid.empty() ? "" : ", ") + name;
    throw config::ConfigError("model.arch = '" + arch + "' is not supported by task '" +
                              config.get_string("task.name") + "'; it supports: " + valid);
  }
  if (config.get_string("model.pooling") == "cls") {
    if (task->num_classes() <= 0) {
      throw config::ConfigError("model.pooling = 'cls' pools a sequence-classification task; "
                                "task '" + config.get_string("task.name") +
                                "' is scored per token");
    }
    task = with_cls_token(std::move(task));
  }
  return task;
}

}  // namespace attnlab::tasks
