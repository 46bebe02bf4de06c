// Training end to end in process, on short budgets: the same seed gives a bit-identical loss
// curve; a run interrupted and resumed gives the same metrics as one that ran straight through;
// the loss goes down; the run directory holds what docs/configs.md promises; the fused AdamW step
// computes LibTorch's AdamW.
#include <catch2/catch.hpp>

#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "experiments/run/run_dir.h"
#include "experiments/run/schema.h"
#include "experiments/train/checkpoint.h"
#include "experiments/train/metrics_log.h"
#include "experiments/train/optimizer.h"
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

namespace {

// A matrix that decays (large enough to be split across threads) and a vector that does not, as
// make_optimizer groups a model's parameters.
std::vector<torch::optim::OptimizerParamGroup> adamw_groups(
    const std::vector<torch::Tensor>& params) {
  const auto options = torch::optim::AdamWOptions(1e-2).betas({0.9, 0.99}).eps(1e-8);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{params[0]},
                      std::make_unique<torch::optim::AdamWOptions>(
                          torch::optim::AdamWOptions(options).weight_decay(0.1)));
  groups.emplace_back(std::vector<torch::Tensor>{params[1], params[2]},
                      std::make_unique<torch::optim::AdamWOptions>(
                          torch::optim::AdamWOptions(options).weight_decay(0.0)));
  return groups;
}

std::vector<torch::Tensor> parameters_like(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> copies;
  for (const auto& param : params) copies.push_back(param.detach().clone().requires_grad_(true));
  return copies;
}

void set_gradients(const std::vector<torch::Tensor>& params,
                   const std::vector<torch::Tensor>& grads) {
  for (std::size_t index = 0; index < params.size(); ++index) {
    auto param = params[index];
    param.mutable_grad() = grads[index].defined() ? grads[index].clone() : torch::Tensor();
  }
}

// The same parameters under each optimiser.
struct BothOptimizers {
  std::vector<torch::Tensor> fused_params, reference_params;
  train::FusedAdamW fused;
  torch::optim::AdamW reference;
  explicit BothOptimizers(const std::vector<torch::Tensor>& initial)
      : fused_params(parameters_like(initial)),
        reference_params(parameters_like(initial)),
        fused(adamw_groups(fused_params)),
        reference(adamw_groups(reference_params)) {}
};

void require_close(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  for (std::size_t index = 0; index < a.size(); ++index) {
    INFO("parameter " << index);
    REQUIRE(torch::allclose(a[index], b[index], 1e-5, 1e-7));
  }
}

}  // namespace

TEST_CASE("the fused AdamW step computes LibTorch's AdamW and shares its state format", "[train]") {
  torch::manual_seed(7);
  const std::vector<torch::Tensor> initial{torch::randn({300, 200}), torch::randn({17}),
                                           torch::randn({5})};
  BothOptimizers both(initial);
  auto& [fused_params, reference_params, fused, reference] = both;
  for (int step = 0; step < 6; ++step) {
    // The last parameter has no gradient on even steps: both leave it alone then.
    const std::vector<torch::Tensor> grads{torch::randn({300, 200}), torch::randn({17}),
                                           step % 2 == 0 ? torch::Tensor() : torch::randn({5})};
    set_gradients(fused_params, grads);
    set_gradients(reference_params, grads);
    fused.step();
    reference.step();
    require_close(fused_params, reference_params);
  }
  REQUIRE_FALSE(torch::allclose(fused_params[0], initial[0]));  // it did train

  // Each loads the other's saved state and steps on from it as the other would.
  const auto resume = [&](torch::optim::Optimizer& from, std::vector<torch::Tensor>& from_params,
                          torch::optim::Optimizer& into, std::vector<torch::Tensor>& into_params) {
    torch::serialize::OutputArchive saved;
    from.save(saved);
    std::stringstream bytes;
    saved.save_to(bytes);
    torch::serialize::InputArchive loaded;
    loaded.load_from(bytes);
    into.load(loaded);
    const std::vector<torch::Tensor> grads{torch::randn({300, 200}), torch::randn({17}),
                                           torch::randn({5})};
    set_gradients(from_params, grads);
    set_gradients(into_params, grads);
    from.step();
    into.step();
    require_close(from_params, into_params);
  };
  SECTION("LibTorch's AdamW resumes from the fused step's state") {
    auto params = parameters_like(fused_params);
    torch::optim::AdamW resumed(adamw_groups(params));
    resume(fused, fused_params, resumed, params);
  }
  SECTION("the fused step resumes from LibTorch's AdamW's state (checkpoints made before it)") {
    auto params = parameters_like(reference_params);
    train::FusedAdamW resumed(adamw_groups(params));
    resume(reference, reference_params, resumed, params);
  }
}

TEST_CASE("the fused AdamW step runs the closure before it reads the gradients", "[train]") {
  torch::manual_seed(9);
  const std::vector<torch::Tensor> initial{torch::randn({40, 30}), torch::randn({30}),
                                           torch::randn({5})};
  BothOptimizers both(initial);
  auto& [fused_params, reference_params, fused, reference] = both;
  // The closure makes the gradients (none exist before it runs), the matrix's one laid out
  // transposed: the fused pass must see that and leave the step to LibTorch's AdamW.
  const auto closure_for = [](std::vector<torch::Tensor>& params) {
    return [&params]() {
      torch::Tensor loss = torch::zeros({});
      for (auto& param : params) {
        loss = loss + (param.detach() * param.detach()).sum();
        param.mutable_grad() = (2 * param.detach()).t().contiguous().t();
      }
      return loss;
    };
  };
  closure_for(fused_params)();
  REQUIRE_FALSE(fused_params[0].grad().is_contiguous());
  for (auto& param : fused_params) param.mutable_grad() = torch::Tensor();
  for (int step = 0; step < 3; ++step) {
    const auto fused_loss = fused.step(closure_for(fused_params));
    const auto reference_loss = reference.step(closure_for(reference_params));
    REQUIRE(torch::allclose(fused_loss, reference_loss));
    require_close(fused_params, reference_params);
  }
  REQUIRE_FALSE(torch::allclose(fused_params[0], initial[0]));
}
