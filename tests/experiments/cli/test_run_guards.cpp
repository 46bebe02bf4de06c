// Guards against bad states of a run, through the binary: a diverged step (non-finite gradients)
// stops training with the step and the first parameter named, before the update and before any
// later checkpoint; two processes pointed at one run directory: the second is refused (exit 2)
// and writes nothing.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "tests/support/files.h"
#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;
using testing::read_text;
using testing::run_attnlab;

TEST_CASE("non-finite gradients stop training at that step, naming the parameter",
          "[train][guards]") {
  testing::TempDir directory;
  const auto run = directory.path() / "run";
  // A learning rate of 1e6 without clipping blows the weights up after the first update.
  const auto result = run_attnlab({"train", "--run-dir", run.string(), "train.lr=1e6",
                                   "train.grad_clip=0", "train.steps=50",
                                   "train.checkpoint_every=1", "record.every=0",
                                   "runtime.progress=none"},
                                  directory.path());
  INFO(result.output);
  CHECK(result.exit_code == 1);
  CHECK_THAT(result.output, Catch::Contains("gradient norm is nan"));
  CHECK_THAT(result.output, Catch::Contains("first parameter with a non-finite gradient: "));
  CHECK_THAT(result.output, Catch::Contains("training stopped before the update"));
  // The checkpoint of the last good step is kept and named; none after it was written.
  CHECK_THAT(result.output, Catch::Contains("The newest checkpoint is kept: "));
  CHECK(std::filesystem::exists(run / "checkpoints" / "step-00000001.pt"));
  CHECK_FALSE(std::filesystem::exists(run / "summary.json"));
  const auto at = result.output.find("error: step ");
  REQUIRE(at != std::string::npos);
  const int step = std::stoi(result.output.substr(at + 12));
  CHECK(step >= 2);
  CHECK_FALSE(std::filesystem::exists(run / "checkpoints" /
                                      ("step-" + std::string(8 - std::to_string(step).size(), '0') +
                                       std::to_string(step) + ".pt")));
}

TEST_CASE("train.skip_nonfinite skips and counts non-finite steps, then stops", "[train][guards]") {
  testing::TempDir directory;
  const auto run = directory.path() / "run";
  const auto result = run_attnlab({"train", "--run-dir", run.string(), "train.lr=1e6",
                                   "train.grad_clip=0", "train.steps=50",
                                   "train.skip_nonfinite=3", "record.every=0",
                                   "runtime.progress=none"},
                                  directory.path());
  INFO(result.output);
  // The blown-up weights stay blown up, so every later step is skipped until the allowance ends.
  CHECK(result.exit_code == 1);
  CHECK_THAT(result.output, Catch::Contains("after skipping 3 such step(s) (train.skip_nonfinite)"));
  const auto log = read_text(run / "train.log");
  for (int skipped = 1; skipped <= 3; ++skipped) {
    CHECK_THAT(log, Catch::Contains("step skipped, " + std::to_string(skipped) + " of 3 allowed"));
  }
  CHECK_THAT(log, !Catch::Contains("4 of 3"));
}

TEST_CASE("a second process on the same run directory is refused and writes nothing",
          "[train][guards]") {
  testing::TempDir directory;
  const auto run = directory.path() / "run";
  const pid_t first = fork();
  if (first == 0) {
    const std::string binary = ATTNLAB_BINARY;
    if (freopen("/dev/null", "w", stdout) == nullptr || freopen("/dev/null", "w", stderr) == nullptr) {
      _exit(126);
    }
    execl(binary.c_str(), binary.c_str(), "train", "--run-dir", run.c_str(), "train.steps=100000",
          "record.every=0", "runtime.threads=1", static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!std::filesystem::exists(run / "metrics.jsonl") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(std::filesystem::exists(run / "config.toml"));
  const auto config = read_text(run / "config.toml");

  const auto second = run_attnlab({"train", "--run-dir", run.string(), "seed=7", "record.every=0"},
                                  directory.path());
  CHECK(second.exit_code == 2);
  CHECK_THAT(second.output, Catch::Contains("is in use by another attnlab process"));
  CHECK(read_text(run / "config.toml") == config);  // the running run's config is untouched
  const auto resumed = run_attnlab({"train", "--resume", run.string()}, directory.path());
  CHECK(resumed.exit_code == 2);
  CHECK_THAT(resumed.output, Catch::Contains("is in use by another attnlab process"));

  kill(first, SIGTERM);
  int status = 0;
  waitpid(first, &status, 0);
  // Once the first process is gone, the directory is free again (the kernel drops the lock).
  const auto free = testing::run_command({"flock", "-n", (run / "run.lock").string(), "true"},
                                         directory.path());
  CHECK(free.exit_code == 0);
}

TEST_CASE("a checkpoint of another architecture, or a damaged one, is refused with exit 2",
          "[train][guards]") {
  testing::TempDir directory;
  const auto train = [&](const std::string& name, const std::string& override) {
    const auto run = directory.path() / name;
    const auto result = run_attnlab({"train", "--run-dir", run.string(), "train.steps=5",
                                     "train.eval_every=5", "train.checkpoint_every=5",
                                     "record.every=0", "runtime.threads=1",
                                     "runtime.progress=none", override},
                                    directory.path());
    INFO(result.output);
    REQUIRE(result.exit_code == 0);
    return run / "checkpoints" / "step-00000005.pt";
  };
  const auto narrow = train("narrow", "model.d_model=32");
  const auto wide = train("wide", "model.d_model=64");

  const auto mismatch = run_attnlab(
      {"eval", "--run", (directory.path() / "wide").string(), "--checkpoint", narrow.string()},
      directory.path());
  INFO(mismatch.output);
  CHECK(mismatch.exit_code == 2);
  CHECK_THAT(mismatch.output, Catch::Contains("cannot load checkpoint " + narrow.string()));
  CHECK_THAT(mismatch.output, Catch::Contains("its weights do not fit this model"));
  CHECK_THAT(mismatch.output, Catch::Contains("in the checkpoint, "));  // the first tensor
  CHECK_THAT(mismatch.output,
             Catch::Contains("configured differently: model.d_model = 32 in the checkpoint, 64 "
                             "here"));

  // More layers than the model: Module::load would read the layers the model has and ignore the
  // rest. Same shapes under another head count: only the configs tell them apart.
  const auto deep = train("deep", "model.layers=3");
  const auto eight_heads = train("eight_heads", "model.heads=8");
  const auto deeper = run_attnlab(
      {"eval", "--run", (directory.path() / "wide").string(), "--checkpoint", deep.string()},
      directory.path());
  INFO(deeper.output);
  CHECK(deeper.exit_code == 2);
  CHECK_THAT(deeper.output, Catch::Contains("its weights do not fit this model (blocks.2 is in "
                                            "the checkpoint, not in this model)"));
  CHECK_THAT(deeper.output, Catch::Contains("model.layers = 3 in the checkpoint, 2 here"));
  const auto heads = run_attnlab({"eval", "--run", (directory.path() / "wide").string(),
                                  "--checkpoint", eight_heads.string()},
                                 directory.path());
  INFO(heads.output);
  CHECK(heads.exit_code == 2);
  CHECK_THAT(heads.output,
             Catch::Contains("it was made for another model, though its weights have this "
                             "model's shapes: model.heads = 8 in the checkpoint, 4 here"));
  // The run's own checkpoint still loads.
  const auto own = run_attnlab(
      {"eval", "--run", (directory.path() / "wide").string(), "--checkpoint", wide.string()},
      directory.path());
  INFO(own.output);
  CHECK(own.exit_code == 0);

  // Cut in half, as a crash mid-copy would leave it (attnlab itself writes atomically).
  std::filesystem::resize_file(wide, std::filesystem::file_size(wide) / 2);
  const auto truncated = run_attnlab(
      {"eval", "--run", (directory.path() / "wide").string(), "--checkpoint", wide.string()},
      directory.path());
  INFO(truncated.output);
  CHECK(truncated.exit_code == 2);
  CHECK_THAT(truncated.output, Catch::Contains("cannot load checkpoint " + wide.string()));
}

TEST_CASE("a resume whose every checkpoint is damaged stops instead of starting over",
          "[train][guards]") {
  testing::TempDir directory;
  const auto run = directory.path() / "run";
  const auto trained = run_attnlab({"train", "--run-dir", run.string(), "train.steps=10",
                                    "train.eval_every=10", "train.checkpoint_every=5",
                                    "record.every=0", "runtime.threads=1",
                                    "runtime.progress=none"},
                                   directory.path());
  REQUIRE(trained.exit_code == 0);
  const auto metrics_before = read_text(run / "metrics.csv");
  for (const auto& entry : std::filesystem::directory_iterator(run / "checkpoints")) {
    std::filesystem::resize_file(entry.path(), std::filesystem::file_size(entry.path()) / 2);
  }
  const auto resumed = run_attnlab(
      {"train", "--resume", run.string(), "runtime.threads=1", "runtime.progress=none"},
      directory.path());
  INFO(resumed.output);
  CHECK(resumed.exit_code == 2);
  CHECK_THAT(resumed.output, Catch::Contains("none of the run's checkpoints loads"));
  CHECK(read_text(run / "metrics.csv") == metrics_before);  // nothing cut back or rewritten
}
