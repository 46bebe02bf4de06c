#include "experiments/tasks/example_stream.h"

namespace attnlab::tasks {

std::uint64_t mix64(std::uint64_t value) {
  value += 0x9e3779b97f4a7c15ULL;
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
  return value ^ (value >> 31);
}

std::uint64_t hash_tokens(const std::vector<std::int64_t>& tokens) {
  std::uint64_t hash = 0x243f6a8885a308d3ULL;
  for (auto token : tokens) hash = mix64(hash ^ static_cast<std::uint64_t>(token));
  return hash;
}

Split split_of(const std::vector<std::int64_t>& content) {
  const auto bucket = hash_tokens(content) % 100;
  if (bucket < 90) return Split::Train;
  return bucket < 95 ? Split::Val : Split::Test;
}

std::vector<std::int64_t> draw_example(
    std::uint64_t stream_seed, Split split, std::int64_t index,
    const std::function<std::vector<std::int64_t>(std::mt19937_64&)>& draw) {
  // A split holds at least 5% of all contents, so 2000 draws miss only when the task's content
  // space is tiny (a handful of distinct examples): then the configuration is at fault.
  constexpr std::uint64_t kMaxAttempts = 2000;
  const std::uint64_t example_seed = mix64(stream_seed ^ static_cast<std::uint64_t>(index));
  for (std::uint64_t attempt = 0; attempt < kMaxAttempts; ++attempt) {
    std::mt19937_64 rng(mix64(example_seed + attempt));
    std::vector<std::int64_t> content = draw(rng);
    if (split_of(content) == split) return content;
  }
  throw config::ConfigError("task: could not draw a " + split_name(split) +
                            " example; the task's content space is too small for disjoint "
                            "splits (raise task.vocab or task.length)");
}

std::uint64_t stream_seed(const config::Config& config, Split split) {
  std::uint64_t seed = mix64(static_cast<std::uint64_t>(config.get_int("task.seed")) * 3 +
                             static_cast<std::uint64_t>(split));
  if (split == Split::Train) seed = mix64(seed ^ static_cast<std::uint64_t>(config.get_int("seed")));
  return seed;
}

ExampleStreams::ExampleStreams(const config::Config& config)
    : val_size_(config.get_int("task.val_examples")),
      test_size_(config.get_int("task.test_examples")),
      seeds_{stream_seed(config, Split::Train), stream_seed(config, Split::Val),
             stream_seed(config, Split::Test)} {}

std::int64_t ExampleStreams::size(Split split) const {
  return split == Split::Val ? val_size_ : split == Split::Test ? test_size_ : -1;
}

std::vector<std::int64_t> ExampleStreams::draw(
    Split split, std::int64_t index,
    const std::function<std::vector<std::int64_t>(std::mt19937_64&)>& draw) const {
  return draw_example(seeds_[static_cast<int>(split)], split, index, draw);
}

}  // namespace attnlab::tasks

namespace attnlab::tasks {

TokenExample next_token_example(const std::vector<std::int64_t>& sequence,
                                std::int64_t first_scored) {
  TokenExample example;
  const auto length = static_cast<std::int64_t>(sequence.size()) - 1;
  example.inputs.assign(sequence.begin(), sequence.end() - 1);
  example.targets.assign(static_cast<std::size_t>(length), kIgnore);
  for (std::int64_t t = first_scored; t < length; ++t) example.targets[t] = sequence[t + 1];
  return example;
}

torch::Tensor stack_rows(const std::vector<std::vector<std::int64_t>>& rows) {
  const auto count = static_cast<std::int64_t>(rows.size());
  const auto length = static_cast<std::int64_t>(rows.front().size());
  auto stacked = torch::empty({count, length}, torch::kLong);
  auto* data = stacked.data_ptr<std::int64_t>();
  for (std::int64_t row = 0; row < count; ++row) {
    std::copy(rows[row].begin(), rows[row].end(), data + row * length);
  }
  return stacked;
}

Batch stack_examples(const std::vector<TokenExample>& examples) {
  std::vector<std::vector<std::int64_t>> inputs, targets;
  inputs.reserve(examples.size());
  targets.reserve(examples.size());
  for (const auto& example : examples) {
    inputs.push_back(example.inputs);
    targets.push_back(example.targets);
  }
  return {stack_rows(inputs), stack_rows(targets), {}};
}

}  // namespace attnlab::tasks
