// mqar: multi-query associative recall as Zoology defines it (Arora et al. 2023).
//   k1 v1 k2 v2 ... kN vN | q . q . ...      keys from the lower half of the vocabulary (token 0
// excluded), values from the upper half; the N keys are queried once each, in random order, at
// query slots g (positions 2N + 2g) drawn without replacement with p(g) ∝ (g+1)^(a-1), a = 0.01,
// which favours early slots; the target after a query is its key's value (nothing else is
// scored). Every other position holds a random filler token (task.random_fillers) or 0.
// The number of pairs is drawn per example from [task.kv_pairs_min, task.kv_pairs]; accuracy is
// also reported per number of pairs (accuracy_kv<N>).
#include <cmath>
#include <numeric>

#include "experiments/tasks/example_stream.h"

namespace attnlab::tasks {
namespace {

class MqarTask : public Task {
 public:
  explicit MqarTask(const config::Config& config)
      : vocab_(config.get_int("task.vocab")),
        length_(config.get_int("task.length")),
        max_pairs_(config.get_int("task.kv_pairs")),
        min_pairs_(config.get_int("task.kv_pairs_min")),
        power_(config.get_float("task.power_a")),
        random_fillers_(config.get_bool("task.random_fillers")),
        streams_(config) {
    if (min_pairs_ <= 0 || min_pairs_ > max_pairs_) min_pairs_ = max_pairs_;
    const auto key_count = vocab_ / 2 - 1;
    if (key_count < max_pairs_ || vocab_ - vocab_ / 2 < max_pairs_) {
      throw config::ConfigError("task.kv_pairs = " + std::to_string(max_pairs_) +
                                " needs distinct keys and values: raise task.vocab (" +
                                std::to_string(vocab_) + ") to at least " +
                                std::to_string(2 * max_pairs_ + 2));
    }
    if (length_ < 4 * max_pairs_) {
      throw config::ConfigError("task.length = " + std::to_string(length_) +
                                " is too short for task.kv_pairs = " + std::to_string(max_pairs_) +
                                ": mqar needs at least 4 positions per pair");
    }
  }

  std::int64_t vocab_size() const override { return vocab_; }
  std::int64_t sequence_length() const override { return length_; }
  std::vector<std::string> supported_archs() const override { return {"decoder"}; }
  std::int64_t split_size(Split split) const override {
    return streams_.size(split);
  }
  // Accuracy per number of key-value pairs in the example (its scored targets).
  void add_metrics(const Batch& batch, const torch::Tensor& logits,
                   MetricSums& sums) const override {
    const auto scored = batch.targets.ne(kIgnore);                                   // [B,T]
    const auto right = logits.argmax(-1).eq(batch.targets).logical_and(scored);      // [B,T]
    const auto pairs = scored.sum(1), correct = right.sum(1);                        // [B]
    for (std::int64_t row = 0; row < pairs.size(0); ++row) {
      const auto count = pairs[row].item<std::int64_t>();
      sums.add("accuracy_kv" + std::to_string(count),
               static_cast<double>(correct[row].item<std::int64_t>()), static_cast<double>(count));
    }
  }

  Batch examples(Split split, std::int64_t first, std::int64_t count) const override {
    std::vector<TokenExample> batch;
    for (std::int64_t index = first; index < first + count; ++index) {
      // The whole sequence (inputs then targets) is the content, so splits are disjoint as
      // sequences.
      auto content = streams_.draw(split, index,
                                   [this](std::mt19937_64& rng) { return draw(rng); });
      const auto half = content.size() / 2;
      TokenExample example;
      example.inputs.assign(content.begin(), content.begin() + static_cast<std::ptrdiff_t>(half));
      example.targets.assign(content.begin() + static_cast<std::ptrdiff_t>(half), content.end());
      batch.push_back(std::move(example));
    }
    return stack_examples(batch);
  }

 private:
  // inputs [T] followed by targets [T] in one vector.
  std::vector<std::int64_t> draw(std::mt19937_64& rng) const {
    std::uniform_int_distribution<std::int64_t> pair_count(min_pairs_, max_pairs_);
    const std::int64_t pairs = pair_count(rng);
    const std::int64_t key_vocab = vocab_ / 2;
    std::vector<std::int64_t> keys(static_cast<std::size_t>(key_vocab - 1));
    std::iota(keys.begin(), keys.end(), 1);  // 1 .. vocab/2 - 1
    std::vector<std::int64_t> values(static_cast<std::size_t>(vocab_ - key_vocab));
    std::iota(values.begin(), values.end(), key_vocab);
    partial_shuffle(keys, pairs, rng);
    partial_shuffle(values, pairs, rng);

    const std::int64_t context = 2 * pairs;
    const std::int64_t slots = (length_ - context) / 2;
    std::vector<std::int64_t> gaps = sample_gaps(slots, pairs, rng);

    std::vector<std::int64_t> inputs(static_cast<std::size_t>(length_), 0);
    std::vector<std::int64_t> targets(static_cast<std::size_t>(length_), kIgnore);
    for (std::int64_t pair = 0; pair < pairs; ++pair) {
      inputs[2 * pair] = keys[pair];
      inputs[2 * pair + 1] = values[pair];
      const std::int64_t query = context + 2 * gaps[pair];
      inputs[query] = keys[pair];
      targets[query] = values[pair];  // predicted at the query: the next token is the value
    }
    if (random_fillers_) {
      std::uniform_int_distribution<std::int64_t> filler(0, vocab_ - 1);
      std::vector<bool> used(static_cast<std::size_t>(length_), false);
      for (std::int64_t position = 0; position < context; ++position) used[position] = true;
      for (std::int64_t pair = 0; pair < pairs; ++pair) used[context + 2 * gaps[pair]] = true;
      for (std::int64_t position = 0; position < length_; ++position) {
        if (!used[position]) inputs[position] = filler(rng);
      }
    }
    inputs.insert(inputs.end(), targets.begin(), targets.end());
    return inputs;
  }

  static void partial_shuffle(std::vector<std::int64_t>& items, std::int64_t count,
                              std::mt19937_64& rng) {
    for (std::int64_t i = 0; i < count; ++i) {
      std::uniform_int_distribution<std::int64_t> pick(i, static_cast<std::int64_t>(items.size()) - 1);
      std::swap(items[i], items[pick(rng)]);
    }
  }

  // `count` distinct slots from [0, slots) with p(g) ∝ (g+1)^(a-1), drawn one at a time without
  // replacement (as numpy's choice(replace=False, p=...) does).
  std::vector<std::int64_t> sample_gaps(std::int64_t slots, std::int64_t count,
                                        std::mt19937_64& rng) const {
    std::vector<double> weights(static_cast<std::size_t>(slots));
    for (std::int64_t g = 0; g < slots; ++g) weights[g] = std::pow(static_cast<double>(g + 1), power_ - 1.0);
    std::vector<std::int64_t> chosen;
    for (std::int64_t i = 0; i < count; ++i) {
      std::discrete_distribution<std::int64_t> pick(weights.begin(), weights.end());
      const auto slot = pick(rng);
      chosen.push_back(slot);
      weights[slot] = 0.0;
    }
    return chosen;
  }

  std::int64_t vocab_, length_, max_pairs_, min_pairs_;
  double power_;
  bool random_fillers_;
  ExampleStreams streams_;
};

}  // namespace

ATTNLAB_REGISTER(
    task_registry(),
    {"mqar",
     "multi-query associative recall (Zoology): recall each queried key's value",
     {{"kv_pairs", std::int64_t{4}, "mqar: key-value pairs per example (the most, if varied)", 1.0},
      {"kv_pairs_min", std::int64_t{0},
       "mqar: fewest pairs when the count varies per example (0: always task.kv_pairs)", 0.0},
      {"power_a", 0.01, "mqar: query slots drawn with p(g) ∝ (g+1)^(a-1)", 0.0, true, 1.0},
      {"random_fillers", true, "mqar: fill non-query positions with random tokens (else 0)"}},
     {},
     {},
     [](const config::Config& config) { return std::make_shared<MqarTask>(config); }});

}  // namespace attnlab::tasks
