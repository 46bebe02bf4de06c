// Training end to end in process, on short budgets: the same seed gives a bit-identical loss
// curve; a run interrupted and resumed gives the same metrics as one that ran straight through;
// the loss goes down; the run directory holds what the README promises.
#include <catch2/catch.hpp>

#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "experiments/run/run_dir.h"
#include "experiments/run/schema.h"
#include "experiments/train/checkpoint.h"
#include "experiments/train/metrics_log.h"
#include "experiments/train/trainer.h"
#include "tests/support/short_run.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;

namespace {

using testing::curve;
using testing::short_run;

train::TrainOptions quiet() { return {}; }

}  // namespace

TEST_CASE("the same config and seed give a bit-identical loss curve", "[train]") {
  testing::TempDir results;
  // Two threads: parallel reductions must not make the curve differ between runs.
  const auto config = short_run(results.path(), {"runtime.threads=2"});
  const auto first = run::RunDir::create(config);
  const auto second = run::RunDir::create(config);
  REQUIRE(first.path() != second.path());  // same config, same second: no collision
  train::train(config, first, quiet());
  train::train(config, second, quiet());
  const auto a = curve(first.path()), b = curve(second.path());
  REQUIRE(a.size() == 8 + 4);  // train rows every 5 steps, val rows every 10
  CHECK(a == b);

  const auto other_seed = short_run(results.path(), {"runtime.threads=2", "seed=1"});
  const auto third = run::RunDir::create(other_seed);
  train::train(other_seed, third, quiet());
  CHECK(curve(third.path()) != a);
}

TEST_CASE("a resumed run's metrics equal an uninterrupted run's", "[train]") {
  testing::TempDir results;
  const auto config = short_run(results.path());
  const auto straight = run::RunDir::create(config);
  train::train(config, straight, quiet());

  // The interrupted run: stopped after 20 of 40 steps (the same config with a smaller budget
  // would change the schedule, so the kill is simulated by truncating a full run's outputs
  // back to its step-20 checkpoint, plus a half-written row like a kill leaves behind).
  const auto interrupted = run::RunDir::create(config);
  train::train(config, interrupted, quiet());
  const auto checkpoints = interrupted.checkpoints();
  for (const auto& path : train::step_checkpoints(checkpoints)) {
    if (path.filename() != "step-00000020.pt") std::filesystem::remove(path);
  }
  std::filesystem::remove(checkpoints / "best.pt");
  {
    std::ofstream append(interrupted.metrics_jsonl(), std::ios::app);
    append << "{\"step\": 45, \"split\": \"tr";  // torn line
  }
  std::filesystem::remove(interrupted.summary());

  train::TrainOptions resume;
  resume.resume = true;
  train::train(config, run::RunDir::open(interrupted.path()), resume);
  CHECK(curve(interrupted.path()) == curve(straight.path()));
  CHECK(std::filesystem::exists(interrupted.summary()));
  // Resuming a finished run changes nothing.
  train::train(config, run::RunDir::open(interrupted.path()), resume);
  CHECK(curve(interrupted.path()) == curve(straight.path()));
}

TEST_CASE("training lowers the loss and fills the run directory", "[train]") {
  testing::TempDir results;
  const auto config = short_run(results.path(), {"train.steps=60"});
  const auto run = run::RunDir::create(config);
  const auto summary = train::train(config, run, quiet());
  const auto rows = train::MetricsLog::read_jsonl(run.metrics_jsonl());
  REQUIRE(rows.size() >= 2);
  CHECK(rows.back().loss < rows.front().loss * 0.8);

  for (const char* file : {"config.toml", "metrics.jsonl", "metrics.csv", "train.log",
                           "summary.json", "checkpoints/best.pt", "checkpoints/step-00000060.pt"}) {
    INFO(file);
    CHECK(std::filesystem::exists(run.path() / file));
  }
  // keep_checkpoints = 2: only the two newest step checkpoints stay.
  CHECK(train::step_checkpoints(run.checkpoints()).size() == 2);
  std::ifstream csv(run.metrics_csv());
  std::string header;
  std::getline(csv, header);
  CHECK(header == "step,split,loss,accuracy,sequence_accuracy,lr,tokens_per_s,elapsed_s");

  const auto written = nlohmann::json::parse(std::ifstream(run.summary()));
  CHECK(written["status"] == "completed");
  CHECK(written["steps"] == 60);
  CHECK(written["parameters"].get<std::int64_t>() > 0);
  CHECK(written["tokens_per_s"].get<double>() > 0);
  CHECK(written["peak_rss_mb"].get<double>() > 0);
  CHECK(written["environment"]["threads"] == 1);
  CHECK(written["environment"]["libtorch"].get<std::string>().size() > 0);
  CHECK(written["best"]["step"].get<std::int64_t>() > 0);
  CHECK(summary == written);

  // The saved config reproduces the run's config exactly.
  const auto reloaded = run::load_config(run.config_file(), {});
  CHECK(reloaded.to_toml() == config.to_toml());
}

TEST_CASE("a damaged checkpoint is reported, not loaded", "[train]") {
  testing::TempDir results;
  const auto config = short_run(results.path(), {"train.steps=10"});
  const auto run = run::RunDir::create(config);
  train::train(config, run, quiet());
  const auto path = run.checkpoints() / "step-00000010.pt";
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  CHECK_THROWS_AS(train::load_checkpoint(path, nullptr, nullptr), train::CheckpointError);
}

TEST_CASE("an encoder-decoder model learns to reverse through cross-attention", "[train]") {
  testing::TempDir results;
  const auto config = short_run(
      results.path(), {"task=reverse", "model.arch=encoder_decoder", "task.length=8",
                       "train.steps=150", "train.eval_every=150", "train.checkpoint_every=150",
                       "train.log_every=50"});
  const auto run = run::RunDir::create(config);
  const auto summary = train::train(config, run, quiet());
  // Reversal needs the decoder to read the source through cross-attention: 150 steps bring a
  // tiny model far above chance (1/30).
  CHECK(summary["final"]["val_accuracy"].get<double>() > 0.5);
}
