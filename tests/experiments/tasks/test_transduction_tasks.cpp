// The copy task's generator: structure, determinism by seed, disjoint splits, and an oracle that
// scores 100% with the project's own objective.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "experiments/run/schema.h"
#include "experiments/tasks/example_stream.h"
#include "experiments/train/objective.h"

using namespace attnlab;

namespace {

config::Config copy_config(std::vector<std::string> overrides = {}) {
  overrides.insert(overrides.begin(), "task=copy");
  return run::load_config(run::default_config_file(), overrides);
}

std::vector<std::int64_t> row(const torch::Tensor& tensor, std::int64_t index) {
  auto line = tensor[index].contiguous();
  return {line.data_ptr<std::int64_t>(), line.data_ptr<std::int64_t>() + line.numel()};
}

}  // namespace

TEST_CASE("copy examples are content, separator, content again: scored on the copy", "[tasks]") {
  const auto config = copy_config({"task.length=5", "task.vocab=11"});
  const auto task = tasks::make_task(config);
  REQUIRE(task->sequence_length() == 10);
  const auto batch = task->examples(tasks::Split::Train, 0, 16);
  REQUIRE(batch.inputs.sizes() == std::vector<std::int64_t>({16, 10}));
  for (std::int64_t b = 0; b < 16; ++b) {
    const auto inputs = row(batch.inputs, b), targets = row(batch.targets, b);
    CHECK(inputs[5] == 1);  // separator
    for (int t = 0; t < 5; ++t) {
      CHECK(inputs[t] >= 2);
      CHECK(inputs[t] < 11);
      CHECK(targets[t] == tasks::kIgnore);  // the prompt is not scored
      CHECK(targets[5 + t] == inputs[t]);   // after the separator: the content again
    }
    for (int t = 6; t < 10; ++t) CHECK(inputs[t] == inputs[t - 6]);
  }
}

TEST_CASE("copy data is a function of the seeds only", "[tasks]") {
  const auto a = tasks::make_task(copy_config())->examples(tasks::Split::Train, 100, 8);
  const auto b = tasks::make_task(copy_config())->examples(tasks::Split::Train, 100, 8);
  CHECK(torch::equal(a.inputs, b.inputs));
  // The run seed changes the training stream but not the validation set.
  const auto other = tasks::make_task(copy_config({"seed=5"}));
  CHECK_FALSE(torch::equal(other->examples(tasks::Split::Train, 100, 8).inputs, a.inputs));
  CHECK(torch::equal(other->examples(tasks::Split::Val, 0, 8).inputs,
                     tasks::make_task(copy_config())->examples(tasks::Split::Val, 0, 8).inputs));
  // task.seed changes the validation set.
  CHECK_FALSE(torch::equal(
      tasks::make_task(copy_config({"task.seed=99"}))->examples(tasks::Split::Val, 0, 8).inputs,
      tasks::make_task(copy_config())->examples(tasks::Split::Val, 0, 8).inputs));
}

TEST_CASE("copy splits are disjoint even when the content space is small", "[tasks]") {
  // vocab 5 -> 3 content tokens, length 6 -> 729 distinct examples: 400 training draws would
  // collide with validation and test examples unless the generator enforces disjointness.
  const auto task = tasks::make_task(copy_config({"task.vocab=5", "task.length=6",
                                                  "task.val_examples=40",
                                                  "task.test_examples=40"}));
  auto contents = [&](tasks::Split split, std::int64_t count) {
    std::set<std::vector<std::int64_t>> seen;
    const auto batch = task->examples(split, 0, count);
    for (std::int64_t b = 0; b < count; ++b) seen.insert(row(batch.inputs, b));
    return seen;
  };
  const auto train = contents(tasks::Split::Train, 400);
  const auto val = contents(tasks::Split::Val, 40);
  const auto test = contents(tasks::Split::Test, 40);
  for (const auto& example : val) {
    CHECK(train.count(example) == 0);
    CHECK(test.count(example) == 0);
  }
  for (const auto& example : test) CHECK(train.count(example) == 0);
}

TEST_CASE("an oracle that copies scores 100% on the copy task", "[tasks]") {
  const auto task = tasks::make_task(copy_config());
  const auto batch = task->examples(tasks::Split::Val, 0, 32);
  // Logits that put all mass on the true next token wherever it is scored.
  auto logits = torch::zeros({32, task->sequence_length(), task->vocab_size()});
  auto targets = batch.targets.clone();
  auto scored = targets.ne(tasks::kIgnore);
  auto safe_targets = targets.masked_fill(scored.logical_not(), 0);
  logits.scatter_(2, safe_targets.unsqueeze(2), 100.0);
  const auto result = train::objective(logits, batch.targets);
  CHECK(result.correct.item<std::int64_t>() == result.scored.item<std::int64_t>());
  CHECK(result.sequences_correct.item<std::int64_t>() == 32);
  CHECK(result.scored.item<std::int64_t>() == 32 * 16);
  CHECK(result.loss.item<double>() < 1e-6);
}

TEST_CASE("a copy task whose content space cannot fill the splits is a config error", "[tasks]") {
  CHECK_THROWS_AS(tasks::make_task(copy_config({"task.vocab=2"})), config::ConfigError);
}

TEST_CASE("reverse and sort write the transformed content after the separator", "[tasks]") {
  for (const std::string name : {"reverse", "sort"}) {
    DYNAMIC_SECTION(name) {
      const auto task = tasks::make_task(copy_config({"task=" + name, "task.length=6"}));
      const auto batch = task->examples(tasks::Split::Val, 0, 8);
      for (std::int64_t b = 0; b < 8; ++b) {
        const auto inputs = row(batch.inputs, b), targets = row(batch.targets, b);
        std::vector<std::int64_t> content(inputs.begin(), inputs.begin() + 6);
        std::vector<std::int64_t> output(targets.begin() + 6, targets.end());
        if (name == "reverse") {
          std::reverse(content.begin(), content.end());
        } else {
          std::sort(content.begin(), content.end());
        }
        CHECK(output == content);
      }
    }
  }
}

TEST_CASE("encoder-decoder transduction puts the content in the source", "[tasks]") {
  const auto task = tasks::make_task(
      copy_config({"task=reverse", "task.length=5", "model.arch=encoder_decoder"}));
  CHECK(task->sequence_length() == 5);
  CHECK(task->source_length() == 5);
  const auto batch = task->examples(tasks::Split::Train, 0, 4);
  REQUIRE(batch.source.defined());
  for (std::int64_t b = 0; b < 4; ++b) {
    auto source = row(batch.source, b);
    const auto inputs = row(batch.inputs, b), targets = row(batch.targets, b);
    std::reverse(source.begin(), source.end());
    CHECK(targets == source);          // every target scored
    CHECK(inputs[0] == 1);             // the decoder starts from the separator
    for (int t = 1; t < 5; ++t) CHECK(inputs[t] == targets[t - 1]);  // teacher forcing
  }
}

TEST_CASE("a task rejects a model shape it does not support", "[tasks]") {
  CHECK_THROWS_WITH(copy_config({"model.arch=encoder"}),
                    Catch::Contains("model.arch") && Catch::Contains("decoder, encoder_decoder"));
}

TEST_CASE("selective copy outputs the marked tokens in order and scores only them", "[tasks]") {
  const auto task = tasks::make_task(copy_config(
      {"task=selective_copy", "task.length=12", "task.marked=4", "task.vocab=10"}));
  REQUIRE(task->sequence_length() == 16);
  const auto batch = task->examples(tasks::Split::Train, 0, 32);
  for (std::int64_t b = 0; b < 32; ++b) {
    const auto inputs = row(batch.inputs, b), targets = row(batch.targets, b);
    std::vector<std::int64_t> marked;
    for (int t = 0; t < 12; ++t) {
      if (inputs[t] != 2) marked.push_back(inputs[t]);
      CHECK(targets[t] == tasks::kIgnore);  // the noisy prompt is not scored
    }
    REQUIRE(marked.size() == 4);
    CHECK(inputs[12] == 1);  // separator
    const std::vector<std::int64_t> output(targets.begin() + 12, targets.end());
    CHECK(output == marked);
  }
}
