#include "experiments/record/text_probe.h"

#include <algorithm>
#include <stdexcept>

namespace attnlab::record {
namespace {

std::vector<std::int64_t> tokenize(const tasks::Task& task, const ProbeInput& input) {
  std::vector<std::int64_t> tokens;
  try {
    tokens = task.encode(input.text);
  } catch (const std::invalid_argument& error) {
    throw config::ConfigError(input.origin + ": " + error.what());
  }
  if (tokens.empty()) throw config::ConfigError(input.origin + ": no tokens in '" + input.text + "'");
  return task.framed(std::move(tokens));
}

// Next-token targets of one padded row: kIgnore from the input's last token on.
std::vector<std::int64_t> next_tokens(const std::vector<std::int64_t>& row, std::int64_t length) {
  std::vector<std::int64_t> targets(row.size(), tasks::kIgnore);
  for (std::int64_t t = 0; t + 1 < length; ++t) {
    targets[static_cast<std::size_t>(t)] = row[static_cast<std::size_t>(t + 1)];
  }
  return targets;
}

}  // namespace

Probe text_probe(const tasks::Task& task, const std::vector<ProbeInput>& inputs,
                 const ProbeLimits& limits) {
  std::vector<std::vector<std::int64_t>> rows;
  std::size_t longest = 0;
  for (const auto& input : inputs) {
    rows.push_back(tokenize(task, input));
    const auto length = static_cast<std::int64_t>(rows.back().size());
    if (limits.longest >= 0 && length > limits.longest) {
      throw config::ConfigError(input.origin + ": " + std::to_string(length) + " tokens; " +
                                limits.longest_reason);
    }
    longest = std::max(longest, rows.back().size());
  }
  const auto padding = task.padding_token();
  // A padded task pads every example to its length: so does the probe, as the model was trained.
  if (padding >= 0) longest = std::max(longest, static_cast<std::size_t>(task.sequence_length()));
  for (std::size_t b = 0; b < rows.size(); ++b) {
    if (padding < 0 && !limits.causal && rows[b].size() != longest) {
      throw config::ConfigError(
          inputs[b].origin + ": " + std::to_string(rows[b].size()) + " tokens where another " +
          "input has " + std::to_string(longest) + "; the model is bidirectional and its task " +
          "has no padding token, so padding would change what it attends to: give inputs of " +
          "one length");
    }
  }
  Probe probe;
  std::vector<std::int64_t> flat, targets;
  for (std::size_t b = 0; b < rows.size(); ++b) {
    const auto length = static_cast<std::int64_t>(rows[b].size());
    auto row = rows[b];
    row.resize(longest, std::max<std::int64_t>(padding, 0));
    probe.indices.push_back(static_cast<std::int64_t>(b));
    probe.text.push_back(inputs[b].text);
    probe.lengths.push_back(length);
    for (std::size_t t = 0; t < longest; ++t) {
      probe.token_text.push_back(static_cast<std::int64_t>(t) < length ? task.token_text(row[t])
                                                                       : std::string());
    }
    if (task.num_classes() == 0) {
      const auto next = next_tokens(row, length);
      targets.insert(targets.end(), next.begin(), next.end());
    } else {
      targets.push_back(tasks::kIgnore);
    }
    flat.insert(flat.end(), row.begin(), row.end());
  }
  const auto batch = static_cast<std::int64_t>(rows.size());
  probe.batch.inputs = torch::tensor(flat, torch::kLong).reshape({batch, -1});
  probe.batch.targets = torch::tensor(targets, torch::kLong);
  if (task.num_classes() == 0) probe.batch.targets = probe.batch.targets.reshape({batch, -1});
  return probe;
}

}  // namespace attnlab::record
