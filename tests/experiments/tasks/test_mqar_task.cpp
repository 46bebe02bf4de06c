// mqar as Zoology defines it: keys from the lower half of the vocabulary and values from the
// upper half, every key queried once, targets only at queries, early query slots favoured.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "experiments/run/schema.h"
#include "experiments/tasks/task.h"
#include "experiments/train/objective.h"

using namespace attnlab;

namespace {

config::Config mqar_config(std::vector<std::string> overrides = {}) {
  overrides.insert(overrides.begin(), "task=mqar");
  return run::load_config(run::default_config_file(), overrides);
}

std::vector<std::int64_t> row(const torch::Tensor& tensor, std::int64_t index) {
  auto line = tensor[index].contiguous();
  return {line.data_ptr<std::int64_t>(), line.data_ptr<std::int64_t>() + line.numel()};
}

}  // namespace

TEST_CASE("mqar examples follow Zoology's layout", "[tasks]") {
  const auto task = tasks::make_task(mqar_config());
  REQUIRE(task->sequence_length() == 64);
  REQUIRE(task->vocab_size() == 256);
  const auto batch = task->examples(tasks::Split::Train, 0, 64);
  for (std::int64_t b = 0; b < 64; ++b) {
    const auto inputs = row(batch.inputs, b), targets = row(batch.targets, b);
    std::map<std::int64_t, std::int64_t> value_of;
    for (int pair = 0; pair < 4; ++pair) {
      const auto key = inputs[2 * pair], value = inputs[2 * pair + 1];
      CHECK(key >= 1);
      CHECK(key < 128);
      CHECK(value >= 128);
      CHECK(value < 256);
      value_of[key] = value;
    }
    CHECK(value_of.size() == 4);  // distinct keys
    std::set<std::int64_t> queried;
    for (int t = 0; t < 64; ++t) {
      if (targets[t] == tasks::kIgnore) continue;
      CHECK(t >= 8);
      CHECK((t - 8) % 2 == 0);                    // query slots sit at 2N + 2g
      REQUIRE(value_of.count(inputs[t]) == 1);    // the query is a key ...
      CHECK(targets[t] == value_of[inputs[t]]);   // ... and the target its value
      queried.insert(inputs[t]);
    }
    CHECK(queried.size() == 4);  // every key queried once
  }
}

TEST_CASE("mqar query slots favour early positions (p(g) ∝ (g+1)^(a-1))", "[tasks]") {
  const auto task = tasks::make_task(mqar_config());
  const auto batch = task->examples(tasks::Split::Train, 0, 2000);
  std::vector<double> slot_counts(28, 0.0);
  const auto scored = batch.targets.ne(tasks::kIgnore);
  for (std::int64_t t = 8; t < 64; t += 2) {
    slot_counts[(t - 8) / 2] = scored.select(1, t).sum().item<double>();
  }
  // With a = 0.01 the weight of slot g is ~1/(g+1): the first slots are filled far more often.
  CHECK(slot_counts[0] > 3 * slot_counts[20]);
  CHECK(slot_counts[0] > slot_counts[1]);
  CHECK(slot_counts[1] > slot_counts[5]);
}

TEST_CASE("mqar reports accuracy per number of pairs: an oracle scores 100%", "[tasks]") {
  const auto task = tasks::make_task(mqar_config({"task.kv_pairs_min=2"}));
  const auto batch = task->examples(tasks::Split::Val, 0, 64);
  auto logits = torch::zeros({64, 64, 256});
  const auto scored = batch.targets.ne(tasks::kIgnore);
  logits.scatter_(2, batch.targets.masked_fill(scored.logical_not(), 0).unsqueeze(2), 50.0);
  const auto result = train::objective(logits, batch.targets);
  CHECK(result.correct.item<std::int64_t>() == result.scored.item<std::int64_t>());
  tasks::MetricSums sums;
  task->add_metrics(batch, logits, sums);
  const auto means = sums.means();
  CHECK(means.count("accuracy_kv2") == 1);
  CHECK(means.count("accuracy_kv4") == 1);
  for (const auto& [name, value] : means) CHECK(value == 1.0);
}

TEST_CASE("mqar rejects pair counts its vocabulary or length cannot hold", "[tasks]") {
  CHECK_THROWS_WITH(mqar_config({"task.vocab=8"}), Catch::Contains("task.vocab"));
  CHECK_THROWS_WITH(mqar_config({"task.length=12"}), Catch::Contains("task.length"));
}
