// induction: a segment repeated; scored on the repeats; the in-context-learning score.
#include <catch2/catch.hpp>

#include "experiments/run/schema.h"
#include "experiments/tasks/task.h"

#include <set>

using namespace attnlab;

TEST_CASE("induction repeats a segment and scores only the repeats", "[tasks]") {
  const auto config = run::load_config(
      run::default_config_file(), {"task=induction", "task.length=8", "task.repeats=3"});
  const auto task = tasks::make_task(config);
  REQUIRE(task->sequence_length() == 24);
  const auto batch = task->examples(tasks::Split::Train, 0, 16);
  for (std::int64_t b = 0; b < 16; ++b) {
    auto inputs = batch.inputs[b], targets = batch.targets[b];
    CHECK(inputs[0].item<std::int64_t>() == 0);  // BOS
    for (int t = 1; t < 24; ++t) {
      if (t > 8) CHECK(inputs[t].item<std::int64_t>() == inputs[t - 8].item<std::int64_t>());
    }
    for (int t = 0; t < 8; ++t) CHECK(targets[t].item<std::int64_t>() == tasks::kIgnore);
    for (int t = 8; t < 24; ++t) CHECK(targets[t].item<std::int64_t>() != tasks::kIgnore);
  }
}

TEST_CASE("induction with task.min_length varies the repeat period per example", "[tasks]") {
  const auto config =
      run::load_config(run::default_config_file(),
                       {"task=induction", "task.length=12", "task.min_length=6", "task.repeats=2"});
  const auto task = tasks::make_task(config);
  REQUIRE(task->sequence_length() == 24);
  const auto batch = task->examples(tasks::Split::Train, 0, 64);
  std::set<std::int64_t> periods;
  for (std::int64_t b = 0; b < 64; ++b) {
    const auto inputs = batch.inputs[b], targets = batch.targets[b];
    // The period is where scoring starts; the whole row repeats with it.
    std::int64_t period = 0;
    while (targets[period].item<std::int64_t>() == tasks::kIgnore) ++period;
    REQUIRE(period >= 6);
    REQUIRE(period <= 12);
    periods.insert(period);
    for (std::int64_t t = period + 1; t < 24; ++t) {
      CHECK(inputs[t].item<std::int64_t>() == inputs[t - period].item<std::int64_t>());
    }
    for (std::int64_t t = period; t < 24; ++t) CHECK(targets[t].item<std::int64_t>() != tasks::kIgnore);
  }
  CHECK(periods.size() >= 5);  // 7 possible lengths, 64 draws
}

TEST_CASE("induction rejects a min_length outside 2 .. task.length", "[tasks]") {
  for (const char* value : {"task.min_length=1", "task.min_length=13"}) {
    const auto load = [value] {
      return tasks::make_task(run::load_config(run::default_config_file(),
                                               {"task=induction", "task.length=12", value}));
    };
    CHECK_THROWS_AS(load(), config::ConfigError);
  }
}

TEST_CASE("the in-context-learning score rewards copying from context", "[tasks]") {
  const auto config = run::load_config(run::default_config_file(),
                                       {"task=induction", "task.length=8", "task.vocab=16"});
  const auto task = tasks::make_task(config);
  const auto batch = task->examples(tasks::Split::Val, 0, 32);
  // A perfect copier: confident on the repeat, uniform on the unpredictable first copy.
  auto logits = torch::zeros({32, 16, 16});
  const auto scored = batch.targets.ne(tasks::kIgnore);
  logits.scatter_(2, batch.targets.masked_fill(scored.logical_not(), 0).unsqueeze(2), 30.0);
  logits.masked_fill_(scored.logical_not().unsqueeze(2), 0.0);
  tasks::MetricSums sums;
  task->add_metrics(batch, logits, sums);
  auto metrics = sums.means();
  task->finish_metrics(metrics);
  CHECK(metrics.at("loss_early") == Approx(std::log(16.0)).epsilon(1e-4));
  CHECK(metrics.at("loss_late") < 1e-6);
  CHECK(metrics.at("icl_score") == Approx(-std::log(16.0)).epsilon(1e-4));
}
