// listops as the Long Range Arena generates it: well-formed expressions within the length
// limits, labels equal to their value, per-depth accuracy, seeded and split-disjoint.
#include <catch2/catch.hpp>

#include <set>

#include "experiments/run/schema.h"
#include "experiments/tasks/listops.h"
#include "experiments/tasks/task.h"

using namespace attnlab;

namespace {

// Token ids (listops.h): digit d is d + 1; MIN 11, MAX 12, MED 13, SM 14, ']' 15.
constexpr std::int64_t kMin = 11, kMax = 12, kMed = 13, kSm = 14, kEnd = 15;
std::int64_t digit(std::int64_t d) { return d + 1; }

config::Config listops_config(std::vector<std::string> overrides = {}) {
  overrides.insert(overrides.begin(), {"task=listops", "model.arch=encoder"});
  return run::load_config(run::default_config_file(), overrides);
}

std::vector<std::int64_t> row(const torch::Tensor& tensor, std::int64_t index) {
  auto line = tensor[index].contiguous();
  return {line.data_ptr<std::int64_t>(), line.data_ptr<std::int64_t>() + line.numel()};
}

}  // namespace

TEST_CASE("listops evaluates MAX, MIN, MED (rounded down) and SM", "[tasks]") {
  // [MAX 4 3 [MIN 2 3 ] 1 0 [MED 1 5 8 9 2 ] ] = max(4, 3, 2, 1, 0, 5) = 5, depth 2
  const std::vector<std::int64_t> nested = {
      kMax, digit(4), digit(3), kMin, digit(2), digit(3), kEnd, digit(1), digit(0),
      kMed, digit(1), digit(5), digit(8), digit(9), digit(2), kEnd, kEnd, 0, 0};
  CHECK(tasks::evaluate_listops(nested) == std::make_pair(std::int64_t{5}, std::int64_t{2}));
  CHECK(tasks::evaluate_listops({kSm, digit(9), digit(8), kEnd}).first == 7);
  CHECK(tasks::evaluate_listops({kMed, digit(1), digit(2), kEnd}).first == 1);  // int(1.5)
  CHECK(tasks::evaluate_listops({kMed, digit(2), digit(4), digit(1), digit(9), kEnd}).first == 3);
  CHECK(tasks::evaluate_listops({kMin, digit(7), kSm, digit(5), digit(6), kEnd, kEnd}).first == 1);
  CHECK_THROWS(tasks::evaluate_listops({kMax, digit(1), digit(2)}));
  CHECK_THROWS(tasks::evaluate_listops({digit(1), kEnd}));
}

TEST_CASE("listops examples are well-formed, within the limits, labelled by their value",
          "[tasks]") {
  const auto task = tasks::make_task(listops_config());
  CHECK(task->vocab_size() == 16);
  CHECK(task->num_classes() == 10);
  const auto batch = task->examples(tasks::Split::Train, 0, 500);
  REQUIRE(batch.inputs.sizes() == torch::IntArrayRef({500, 128}));
  REQUIRE(batch.targets.sizes() == torch::IntArrayRef({500}));
  std::set<std::int64_t> labels, depths;
  for (std::int64_t b = 0; b < 500; ++b) {
    const auto tokens = row(batch.inputs, b);
    const auto used = std::find(tokens.begin(), tokens.end(), 0) - tokens.begin();
    CHECK(used >= 16);  // task.min_length
    CHECK(std::all_of(tokens.begin() + used, tokens.end(), [](auto t) { return t == 0; }));
    CHECK(tokens.front() >= kMin);  // a root operator, never a bare digit
    CHECK(tokens.front() <= kSm);
    const auto [value, depth] = tasks::evaluate_listops(tokens);
    CHECK(batch.targets[b].item<std::int64_t>() == value);
    CHECK(depth <= 5);  // operators live at depths 1 .. max_depth - 1
    labels.insert(value);
    depths.insert(depth);
  }
  CHECK(labels.size() == 10);  // every class occurs
  CHECK(depths.size() >= 3);   // a spread of depths to slice by
}

TEST_CASE("listops is seeded and its splits are disjoint", "[tasks]") {
  const auto task = tasks::make_task(listops_config());
  const auto again = tasks::make_task(listops_config());
  CHECK(torch::equal(task->examples(tasks::Split::Train, 7, 16).inputs,
                     again->examples(tasks::Split::Train, 7, 16).inputs));
  const auto other_seed = tasks::make_task(listops_config({"seed=5"}));
  CHECK_FALSE(torch::equal(task->examples(tasks::Split::Train, 0, 16).inputs,
                           other_seed->examples(tasks::Split::Train, 0, 16).inputs));
  // Validation data depends on task.seed only: every run is scored on the same examples.
  CHECK(torch::equal(task->examples(tasks::Split::Val, 0, 16).inputs,
                     other_seed->examples(tasks::Split::Val, 0, 16).inputs));
  std::set<std::vector<std::int64_t>> train;
  const auto train_batch = task->examples(tasks::Split::Train, 0, 3000);
  for (std::int64_t b = 0; b < 3000; ++b) train.insert(row(train_batch.inputs, b));
  const auto val = task->examples(tasks::Split::Val, 0, task->split_size(tasks::Split::Val));
  for (std::int64_t b = 0; b < val.inputs.size(0); ++b) CHECK(train.count(row(val.inputs, b)) == 0);
}

TEST_CASE("listops reports accuracy per depth: an oracle scores 100%", "[tasks]") {
  const auto task = tasks::make_task(listops_config());
  const auto batch = task->examples(tasks::Split::Val, 0, 128);
  auto logits = torch::zeros({128, 10});
  logits.scatter_(1, batch.targets.unsqueeze(1), 10.0);
  tasks::MetricSums sums;
  task->add_metrics(batch, logits, sums);
  const auto means = sums.means();
  CHECK(means.size() >= 3);
  for (const auto& [name, value] : means) {
    CHECK(name.rfind("accuracy_depth", 0) == 0);
    CHECK(value == 1.0);
  }
  tasks::MetricSums wrong;
  task->add_metrics(batch, logits.roll(1, /*dims=*/1), wrong);  // every prediction off by one
  for (const auto& [name, value] : wrong.means()) CHECK(value == 0.0);
}

TEST_CASE("listops rejects a decoder and limits it cannot meet", "[tasks]") {
  CHECK_THROWS_WITH(tasks::make_task(listops_config({"model.arch=decoder"})),
                    Catch::Contains("model.arch") && Catch::Contains("encoder"));
  CHECK_THROWS_WITH(tasks::make_task(listops_config({"task.min_length=200"})),
                    Catch::Contains("task.min_length"));
  CHECK_THROWS_WITH(tasks::make_task(listops_config({"task.max_depth=2", "task.max_args=3",
                                                     "task.min_length=40"})),
                    Catch::Contains("task.max_depth"));
}

TEST_CASE("CLS pooling puts a classification token of its own in front of every example",
          "[tasks]") {
  const auto plain = tasks::make_task(listops_config());
  const auto cls = tasks::make_task(listops_config({"model.pooling=cls"}));
  CHECK(cls->vocab_size() == 17);  // the token after the task's own: 16
  CHECK(cls->sequence_length() == 129);
  CHECK(cls->num_classes() == 10);
  const auto batch = cls->examples(tasks::Split::Val, 0, 64);
  const auto own = plain->examples(tasks::Split::Val, 0, 64);
  CHECK(batch.inputs.select(1, 0).eq(16).all().item<bool>());
  CHECK(torch::equal(batch.inputs.slice(1, 1), own.inputs));
  CHECK(torch::equal(batch.targets, own.targets));
  // The task's own metrics still read its expressions: an oracle scores 100% at every depth.
  auto logits = torch::zeros({64, 10});
  logits.scatter_(1, batch.targets.unsqueeze(1), 10.0);
  tasks::MetricSums sums;
  cls->add_metrics(batch, logits, sums);
  CHECK(sums.means().size() >= 3);
  for (const auto& [name, value] : sums.means()) CHECK(value == 1.0);

  CHECK_THROWS_WITH(
      tasks::make_task(run::load_config(run::default_config_file(), {"model.pooling=cls"})),
      Catch::Contains("model.pooling = 'cls'") && Catch::Contains("task 'copy'"));
}
