// Deterministic, split-disjoint example generation shared by the synthetic tasks.
//
// Every example is drawn from its own RNG seeded by (task seed, split, index, attempt), so any
// example can be regenerated alone (resume needs no data-loader state). Splits are made disjoint
// by content: an example belongs to the split its content hash falls into (train 90%, val 5%,
// test 5%); a draw that lands in another split is redrawn.
#pragma once

#include <cstdint>
#include <array>
#include <functional>
#include <random>
#include <vector>

#include "experiments/tasks/task.h"

namespace attnlab::tasks {

// SplitMix64 finaliser: a fast, well-mixed 64-bit hash.
std::uint64_t mix64(std::uint64_t value);
std::uint64_t hash_tokens(const std::vector<std::int64_t>& tokens);
// The split an example with this content belongs to.
Split split_of(const std::vector<std::int64_t>& content);

// Draws content with `draw(rng)` until it belongs to `split`; returns it. `stream_seed` separates
// independent streams (the train stream also mixes in the run's seed so seeds see different
// orders, while val/test stay fixed across seeds).
std::vector<std::int64_t> draw_example(
    std::uint64_t stream_seed, Split split, std::int64_t index,
    const std::function<std::vector<std::int64_t>(std::mt19937_64&)>& draw);

// Seed of a split's stream: val/test depend on task.seed only; train also on the run's seed.
std::uint64_t stream_seed(const config::Config& config, Split split);

// The three example streams of a generated task: task.val_examples and task.test_examples fixed
// examples, an endless train stream, each with its own seed (stream_seed).
class ExampleStreams {
 public:
  explicit ExampleStreams(const config::Config& config);
  std::int64_t size(Split split) const;  // -1 for the endless train stream
  // Example `index` of `split` (draw_example with the split's seed).
  std::vector<std::int64_t> draw(
      Split split, std::int64_t index,
      const std::function<std::vector<std::int64_t>(std::mt19937_64&)>& draw) const;

 private:
  std::int64_t val_size_, test_size_;
  std::array<std::uint64_t, 3> seeds_;
};

}  // namespace attnlab::tasks

namespace attnlab::tasks {

// One next-token example: inputs [T] and targets [T] (kIgnore where not scored).
struct TokenExample {
  std::vector<std::int64_t> inputs;
  std::vector<std::int64_t> targets;
};

// A decoder-style example from a full sequence: inputs = sequence[0:T], targets = sequence[1:T+1],
// scored only from position `first_scored` on (the answer part).
TokenExample next_token_example(const std::vector<std::int64_t>& sequence,
                                std::int64_t first_scored);

// Stacks equally long examples into a batch ([B,T] inputs and targets).
Batch stack_examples(const std::vector<TokenExample>& examples);
// Stacks equally long token rows into a [B,T] int64 tensor.
torch::Tensor stack_rows(const std::vector<std::vector<std::int64_t>>& rows);

}  // namespace attnlab::tasks
