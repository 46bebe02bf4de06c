// `attnlab sweep` with the local launcher, through the binary: a 2 x 2 grid run two at a time,
// skipped on a second run; a failing job that does not stop the others and is retried only with
// --retry-failed; Ctrl-C stopping cleanly and the next run resuming from checkpoints; one
// launcher per sweep; `train -m`; bad parameters (exit 2, nothing written); --dry-run.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/support/run_command.h"
#include "experiments/run/system_info.h"
#include "tests/support/background_attnlab.h"
#include "tests/support/files.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;
using testing::read_text;
using testing::run_attnlab;

namespace {

// The sweep folders under <results>/default (none yet while a launcher is starting).
std::vector<std::filesystem::path> sweep_dirs(const std::filesystem::path& results) {
  std::vector<std::filesystem::path> found;
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator(results / "default", ignored)) {
    if (entry.path().filename().string().rfind("sweep-", 0) == 0) found.push_back(entry.path());
  }
  return found;
}

// The only sweep folder under <results>/default.
std::filesystem::path sweep_dir(const std::filesystem::path& results) {
  const auto found = sweep_dirs(results);
  REQUIRE(found.size() == 1);
  return found.front();
}

// Whether the sweep's job folder has a committed step checkpoint yet.
bool has_checkpoint(const std::filesystem::path& results, const std::string& job) {
  for (const auto& sweep : sweep_dirs(results)) {
    std::error_code ignored;
    for (const auto& file :
         std::filesystem::directory_iterator(sweep / job / "checkpoints", ignored)) {
      const auto name = file.path().filename().string();
      if (name.rfind("step-", 0) == 0 && file.path().extension() == ".pt") return true;
    }
  }
  return false;
}


std::vector<nlohmann::json> manifest(const std::filesystem::path& sweep) {
  std::vector<nlohmann::json> entries;
  std::ifstream in(sweep / "manifest.jsonl");
  std::string line;
  while (std::getline(in, line)) entries.push_back(nlohmann::json::parse(line));
  return entries;
}

// Short runs of the default experiment, written under `results`.
std::vector<std::string> sweep_command(const std::filesystem::path& results,
                                       std::vector<std::string> parameters) {
  // The test's parameters last: a later parameter replaces an earlier one of the same key.
  std::vector<std::string> command = {"sweep", "train.steps=20", "train.eval_every=10",
                                      "record.every=0",
                                      "experiment.results_dir=" + results.string()};
  command.insert(command.end(), parameters.begin(), parameters.end());
  return command;
}

}  // namespace

TEST_CASE("a local sweep runs every job, compares them, and skips them when run again",
          "[sweep][cli]") {
  testing::TempDir directory;
  const auto results = directory.path() / "results";
  const auto command = sweep_command(results, {"--jobs", "2", "variant=scaled,rope", "seed=range(0,2)"});
  const auto first = run_attnlab(command, directory.path());
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  const auto sweep = sweep_dir(results);
  CHECK(std::filesystem::exists(sweep / "sweep.toml"));
  const auto entries = manifest(sweep);
  REQUIRE(entries.size() == 4);
  CHECK(entries[2]["run_dir"] == "002-variant=rope,seed=0");
  for (const auto& entry : entries) {
    CHECK(entry["status"] == "finished");
    CHECK(entry["exit_code"] == 0);
    CHECK(entry["attempts"] == 1);
    CHECK_FALSE(entry["host"].get<std::string>().empty());
    CHECK(std::filesystem::exists(sweep / entry["run_dir"].get<std::string>() / "summary.json"));
  }
  // Two at a time on this machine's cores: each run got half of them (at least one).
  CHECK_THAT(read_text(sweep / "000-variant=scaled,seed=0" / "config.toml"),
             Catch::Contains("threads = " + std::to_string(std::max(1, run::available_cores() / 2)) + "\n"));
  CHECK(std::filesystem::exists(sweep / "compare" / "compare.md"));
  CHECK_THAT(first.output, Catch::Contains("4 jobs: 4 finished"));

  const auto summary = sweep / "001-variant=scaled,seed=1" / "summary.json";
  const auto written = std::filesystem::last_write_time(summary);
  const auto second = run_attnlab(command, directory.path());
  INFO(second.output);
  REQUIRE(second.exit_code == 0);
  CHECK_THAT(second.output, Catch::Contains("4 jobs, 0 to run"));
  CHECK(std::filesystem::last_write_time(summary) == written);
  CHECK(sweep_dir(results) == sweep);  // the same folder, no second sweep

  // --dry-run lists the jobs and writes nothing.
  const auto dry = run_attnlab(sweep_command(directory.path() / "dry", {"--dry-run", "seed=0,1,2"}),
                               directory.path());
  CHECK(dry.exit_code == 0);
  CHECK_THAT(dry.output, Catch::Contains("3 jobs over"));
  CHECK_THAT(dry.output, Catch::EndsWith("seed=2\n"));
  CHECK_FALSE(std::filesystem::exists(directory.path() / "dry"));
}

TEST_CASE("a failing job does not stop the others and is retried only when asked",
          "[sweep][cli]") {
  testing::TempDir directory;
  const auto results = directory.path() / "results";
  // A learning rate of 1e6 without clipping diverges at the second step: those jobs pass
  // validation and fail while training (exit 1), on any device.
  const auto command =
      sweep_command(results, {"train.grad_clip=0", "train.lr=1e-3,1e6", "seed=0,1"});
  const auto first = run_attnlab(command, directory.path());
  INFO(first.output);
  CHECK(first.exit_code == 1);
  const auto sweep = sweep_dir(results);
  auto entries = manifest(sweep);
  REQUIRE(entries.size() == 4);
  CHECK(entries[0]["status"] == "finished");
  CHECK(entries[1]["status"] == "finished");
  CHECK(entries[2]["status"] == "failed");
  CHECK(entries[3]["status"] == "failed");
  CHECK(entries[2]["exit_code"] == 1);
  // The summary lists the failures with the end of their logs.
  CHECK_THAT(first.output, Catch::Contains("failed: 002-train.lr=1e6,seed=0 (exit 1)"));
  CHECK_THAT(first.output, Catch::Contains("non-finite gradient"));
  CHECK_THAT(first.output, Catch::Contains("--retry-failed"));

  const auto again = run_attnlab(command, directory.path());
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.output, Catch::Contains("4 jobs, 0 to run"));
  CHECK(manifest(sweep)[2]["attempts"] == 1);

  auto retry = command;
  retry.push_back("--retry-failed");
  const auto retried = run_attnlab(retry, directory.path());
  CHECK(retried.exit_code == 1);
  CHECK_THAT(retried.output, Catch::Contains("4 jobs, 2 to run"));
  entries = manifest(sweep);
  CHECK(entries[2]["attempts"] == 2);
  CHECK(entries[0]["attempts"] == 1);
}

TEST_CASE("Ctrl-C stops a sweep cleanly and the next run resumes it from checkpoints",
          "[sweep][cli]") {
  testing::TempDir directory;
  const auto results = directory.path() / "results";
  const auto command = sweep_command(results, {"--jobs", "2", "seed=0,1", "train.steps=400",
                                         "train.checkpoint_every=20"});
  // The launcher in the background, in its own process group like a shell job.
  const pid_t launcher = testing::start_attnlab(
      command, {directory.path(), directory.path() / "launcher.log", /*own_group=*/true});
  // Wait until both runs have a checkpoint, then Ctrl-C the whole job (launcher and children).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  bool ready = false;
  while (!ready && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ready = has_checkpoint(results, "000-seed=0") && has_checkpoint(results, "001-seed=1");
  }
  REQUIRE(ready);
  kill(-launcher, SIGINT);
  const int exit_code = testing::wait_exit_code(launcher);
  INFO(read_text(directory.path() / "launcher.log"));
  CHECK(exit_code == 130);
  const auto sweep = sweep_dir(results);
  for (const auto& entry : manifest(sweep)) {
    CHECK(entry["status"] == "interrupted");
    CHECK_FALSE(entry["end"].get<std::string>().empty());
  }

  const auto resumed = run_attnlab(command, directory.path());
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK_THAT(resumed.output, Catch::Contains("2 jobs, 2 to run"));
  for (const auto& entry : manifest(sweep)) {
    CHECK(entry["status"] == "finished");
    CHECK(entry["attempts"] == 2);
  }
  CHECK_THAT(read_text(sweep / "logs" / "000-seed=0.log"), Catch::Contains("resumed from"));
}

TEST_CASE("one launcher per sweep; train -m is a sweep; bad parameters exit 2", "[sweep][cli]") {
  testing::TempDir directory;
  const auto results = directory.path() / "results";
  // A long job, so that the second launcher surely comes while the first one runs.
  const auto command = sweep_command(results, {"seed=0", "train.steps=100000"});
  const pid_t launcher = testing::start_attnlab(
      command, {directory.path(), directory.path() / "first.log", /*own_group=*/true});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool running = false;
  while (!running && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto found = sweep_dirs(results);
    running = found.size() == 1 && std::filesystem::exists(found.front() / "logs");
  }
  REQUIRE(running);
  const auto second = run_attnlab(command, directory.path());
  CHECK(second.exit_code == 2);
  CHECK_THAT(second.output, Catch::Contains("is being run by another launcher"));
  kill(-launcher, SIGINT);
  CHECK(testing::wait_exit_code(launcher) == 130);

  // Sweep options belong to sweeps: without -m they are an error, not ignored.
  const auto stray = run_attnlab({"train", "--jobs", "2", "train.steps=1"}, directory.path());
  CHECK(stray.exit_code == 2);
  CHECK_THAT(stray.output, Catch::Contains("--jobs is a sweep option"));

  const auto multirun =
      run_attnlab({"train", "-m", "seed=3,4", "train.steps=10", "record.every=0",
                   "experiment.results_dir=" + (directory.path() / "m").string()},
                  directory.path());
  INFO(multirun.output);
  CHECK(multirun.exit_code == 0);
  CHECK_THAT(multirun.output, Catch::Contains("2 jobs: 2 finished"));

  for (const char* bad : {"seed=range(0,", "train.stepz=1,2", "variant=glob(nothing*)"}) {
    const auto result = run_attnlab(sweep_command(directory.path() / "bad", {bad}), directory.path());
    INFO(bad << "\n" << result.output);
    CHECK(result.exit_code == 2);
    CHECK_FALSE(std::filesystem::exists(directory.path() / "bad"));
  }
  // A preset the sweep file does not have: exit 2 naming the file and the presets it has.
  const auto recipe = directory.path() / "recipe.toml";
  std::ofstream(recipe) << "[params]\nseed = \"0,1\"\n[preset.cpu]\nseed = \"0\"\n";
  auto unknown = sweep_command(directory.path() / "bad", {"--sweep", recipe.string()});
  unknown.insert(unknown.end(), {"--preset", "gpu"});
  const auto no_preset = run_attnlab(unknown, directory.path());
  CHECK(no_preset.exit_code == 2);
  CHECK_THAT(no_preset.output, Catch::Contains("recipe.toml: no preset 'gpu' (its presets: cpu)"));
  CHECK_FALSE(std::filesystem::exists(directory.path() / "bad"));

  const auto help = run_attnlab({"sweep", "--help"}, directory.path());
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.output, Catch::Contains("--launcher"));
  CHECK_THAT(help.output, Catch::Contains("range(0,3)"));
  CHECK_THAT(help.output, Catch::Contains("--preset"));
}
