// Preflight, through the binary: every run-stopping mistake a new user can make is refused with
// exit 2, a message naming the key, and nothing written (no run directory, nothing outside
// results/): a pattern length that does not fit the task's lengths, a run that cannot fit in
// memory, a device this build or machine lacks, an experiment name that is not one folder name.
#include <catch2/catch.hpp>

#include <set>

#include <nlohmann/json.hpp>

#include "tests/support/files.h"
#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;
using testing::run_attnlab;

namespace {

// Every path under `root`, relative to it.
std::set<std::string> tree(const std::filesystem::path& root) {
  std::set<std::string> paths;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    paths.insert(std::filesystem::relative(entry.path(), root).string());
  }
  return paths;
}

// Runs attnlab in <temp>/work/inner and requires exit 2 with `expected` in its output and no
// file or folder added anywhere under <temp>.
void require_refused(const std::vector<std::string>& arguments, const std::string& expected) {
  testing::TempDir directory;
  const auto work = directory.path() / "work" / "inner";
  std::filesystem::create_directories(work);
  const auto before = tree(directory.path());
  const auto result = run_attnlab(arguments, work);
  INFO(result.output);
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.output, Catch::Contains(expected));
  CHECK_THAT(result.output, !Catch::Contains("Exception raised from"));  // no LibTorch backtrace
  CHECK(tree(directory.path()) == before);
}

const std::vector<std::string> kQuick = {"train.steps=1", "record.every=0", "runtime.progress=none",
                                         "runtime.threads=1"};

std::vector<std::string> train_with(std::vector<std::string> overrides) {
  std::vector<std::string> arguments = {"train"};
  arguments.insert(arguments.end(), kQuick.begin(), kQuick.end());
  arguments.insert(arguments.end(), overrides.begin(), overrides.end());
  return arguments;
}

}  // namespace

TEST_CASE("a pattern's length rule is checked before the run directory exists", "[preflight]") {
  // The copy task at task.length 16 is 32 tokens long: a block of 7 does not divide it.
  require_refused(train_with({"variant=bigbird", "variant.block=7"}), "variant.block = 7");
  require_refused(train_with({"variant=bigbird", "variant.block=8", "variant.global_blocks=5"}),
                  "variant.global_blocks");
}

TEST_CASE("eval.lengths are checked at every length eval will run", "[preflight]") {
  // task.length 13 makes 26 tokens, which blocks of 8 do not divide; learned positions reach it.
  require_refused(train_with({"variant=bigbird", "variant.block=8", "eval.lengths=[12,13]"}),
                  "at eval.lengths value 13");
  // 20 makes 40 tokens, past the learned positions' 32: eval skips it, so it is no mistake...
  testing::TempDir directory;
  auto arguments = train_with({"variant=bigbird", "variant.block=8", "eval.lengths=[20]",
                               "--run-dir", (directory.path() / "run").string()});
  const auto skipped = run_attnlab(arguments, directory.path());
  INFO(skipped.output);
  CHECK(skipped.exit_code == 0);
  // ...but with sinusoidal positions eval runs it, and 40 tokens are not whole blocks of 16.
  require_refused(train_with({"variant=bigbird", "variant.block=16", "model.positions=sinusoidal",
                              "eval.lengths=[20]"}),
                  "variant.block = 16 must divide the key length 40");
  // The same check guards `attnlab eval`'s overrides: nothing is evaluated or written.
  const auto run = directory.path() / "run";
  const auto eval = run_attnlab({"eval", "--run", run.string(), "eval.lengths=[13]"},
                                directory.path());
  INFO(eval.output);
  CHECK(eval.exit_code == 2);
  CHECK_THAT(eval.output, Catch::Contains("eval.lengths value 13"));
  CHECK_FALSE(std::filesystem::exists(run / "eval-test.json"));
}

TEST_CASE("a run that cannot fit in memory is refused, naming its largest term", "[preflight]") {
  // 20,000,000-token copy examples, 64 at a time: petabytes of activations on any machine.
  const auto huge = train_with({"task.length=10000000"});
  require_refused(huge, "the largest term is step activations");
  require_refused(huge, "train.batch, train.accumulate, task.length");
  require_refused(huge, "runtime.allow_oversubscribe=true");
  // A local sweep checks every job, each as many times as run side by side, before it starts.
  require_refused({"sweep", "task.length=10000000,16", "train.steps=1"}, "sweep job 0");
}

TEST_CASE("a device this build or machine lacks is refused by name", "[preflight]") {
  // No machine has 100 GPUs, so this holds on a CUDA build with a GPU too.
  require_refused(train_with({"runtime.device=cuda:99"}), "runtime.device = 'cuda:99'");
  require_refused(train_with({"runtime.device=mps"}), "attnlab runs on cpu or cuda");
  require_refused(train_with({"runtime.device=gpu"}), "runtime.device");
}

TEST_CASE("experiment names must be one folder name", "[preflight]") {
  require_refused(train_with({"experiment.name=../../x"}), "experiment.name = '../../x'");
  require_refused(train_with({"experiment.name=a/b"}), "one folder name");
  require_refused(train_with({"experiment.name=.."}), "one folder name");
  require_refused(train_with({"experiment.name=''"}), "one folder name");
  require_refused({"sweep", "experiment.name=../up", "seed=0,1"}, "experiment.name");
}

TEST_CASE("config show --cost lists the estimate term by term", "[preflight]") {
  testing::TempDir directory;
  const auto shown = run_attnlab({"config", "show", "--cost"}, directory.path());
  INFO(shown.output);
  REQUIRE(shown.exit_code == 0);
  for (const char* expected : {"[model]", "parameters", "training FLOPs per token",
                               "attention self 32x32: fused", "peak memory on cpu (estimate)",
                               "weights", "AdamW moments", "step activations",
                               "probe attention", "available:"}) {
    CHECK_THAT(shown.output, Catch::Contains(expected));
  }
  // `train` prints the same before its run directory, and keeps it in summary.json.
  const auto run = directory.path() / "run";
  auto arguments = train_with({"--run-dir", run.string()});
  const auto trained = run_attnlab(arguments, directory.path());
  INFO(trained.output);
  REQUIRE(trained.exit_code == 0);
  CHECK_THAT(trained.output, Catch::Contains("peak memory on cpu (estimate)"));
  const auto summary = nlohmann::json::parse(testing::read_text(run / "summary.json"));
  CHECK(summary["cost_estimate"]["parameters"] == summary["parameters"]);
  CHECK(summary["cost_estimate"]["peak_mb"].get<double>() > 0.0);
}
