// Recording under real failures, through the attnlab binary: a run killed with SIGKILL leaves a
// dump that opens and holds every snapshot completed before the kill; --resume continues it
// without duplicates, ending with exactly the snapshots (and values) of an uninterrupted run;
// a full disk stops the run with the dump's path while the last checkpoint stays loadable.
#include <catch2/catch.hpp>

#include <signal.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "dump/dump_reader.h"
#include "experiments/train/checkpoint.h"
#include "tests/support/background_attnlab.h"
#include "tests/support/run_command.h"
#include "tests/support/files.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;
using testing::read_text;
using testing::start_attnlab;
using testing::wait_exit_code;

namespace {

// 80 steps of the default experiment, a snapshot every `every` steps, a checkpoint every 10.
std::vector<std::string> train_arguments(const std::filesystem::path& run_dir, int every,
                                         int compression = 1) {
  return {"train", "--run-dir", run_dir.string(), "train.steps=80", "train.warmup=5",
          "train.log_every=2", "train.eval_every=20", "train.checkpoint_every=10",
          "task.val_examples=64", "record.every=" + std::to_string(every),
          "record.compression=" + std::to_string(compression), "runtime.progress=none",
          "runtime.threads=1"};
}

std::vector<std::string> resume_arguments(const std::filesystem::path& run_dir) {
  return {"train", "--resume", run_dir.string(), "runtime.progress=none", "runtime.threads=1"};
}

// The largest step of a train row in metrics.jsonl (complete lines only), or -1.
std::int64_t logged_step(const std::filesystem::path& run_dir) {
  std::ifstream in(run_dir / "metrics.jsonl");
  std::int64_t step = -1;
  std::string line;
  while (std::getline(in, line)) {
    const auto row = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (row.is_object() && row.value("split", "") == "train") {
      step = std::max(step, row.value("step", std::int64_t{-1}));
    }
  }
  return step;
}

// Kills the run with SIGKILL `delay` after it has logged step `step` (the snapshots up to
// `step - 2` are then complete: the trainer logs a step before recording it).
void kill_after(pid_t child, const std::filesystem::path& run_dir, std::int64_t step,
                std::chrono::milliseconds delay) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (logged_step(run_dir) < step) {
    int status = 0;
    REQUIRE(::waitpid(child, &status, WNOHANG) == 0);  // still running
    REQUIRE(std::chrono::steady_clock::now() < give_up);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(delay);
  REQUIRE(::kill(child, SIGKILL) == 0);
  CHECK(wait_exit_code(child) == -SIGKILL);
}

std::vector<std::int64_t> steps_every(std::int64_t every, std::int64_t total) {
  std::vector<std::int64_t> steps;
  for (std::int64_t step = 0; step <= total; step += every) steps.push_back(step);
  return steps;
}

// The dump opens, its steps are a prefix of the schedule holding at least `at_least`, and every
// snapshot's maps and statistics read back with rows summing to 1.
void check_complete_prefix(const std::filesystem::path& path, std::size_t at_least) {
  const dump::DumpReader reader(path);
  const auto schedule = steps_every(2, 80);
  INFO("snapshots after the kill: " << reader.snapshots());
  REQUIRE(reader.steps().size() >= at_least);
  CHECK(std::equal(reader.steps().begin(), reader.steps().end(), schedule.begin()));
  for (std::int64_t snapshot = 0; snapshot < reader.snapshots(); ++snapshot) {
    for (std::int64_t layer = 0; layer < 2; ++layer) {
      const auto map = reader.map(layer, snapshot, reader.samples() - 1, 3);  // [T,T]
      double sum = 0.0;
      for (std::size_t key = 0; key < 32; ++key) sum += map[31 * 32 + key];  // the last query
      CHECK(sum == Catch::Detail::Approx(1.0).margin(5e-3));
    }
  }
  for (const auto& statistic : dump::kStatistics) {
    CHECK(reader.statistic(1, statistic.name).shape[0] == reader.snapshots());
  }
}

std::vector<float> statistics(const std::filesystem::path& path) {
  const dump::DumpReader reader(path);
  std::vector<float> values;
  for (std::int64_t layer = 0; layer < 2; ++layer) {
    for (const auto& statistic : dump::kStatistics) {
      const auto array = reader.statistic(layer, statistic.name);
      values.insert(values.end(), array.values.begin(), array.values.end());
    }
  }
  return values;
}

}  // namespace

TEST_CASE("SIGKILL keeps completed snapshots and --resume completes the dump without duplicates",
          "[record][slow]") {
  testing::TempDir work;
  const auto straight = work.path() / "straight";
  const auto straight_run = testing::run_attnlab(train_arguments(straight, 2), work.path());
  INFO(straight_run.output);
  REQUIRE(straight_run.exit_code == 0);

  const auto killed = work.path() / "killed";
  const auto dump_path = killed / dump::kFileName;
  // First kill at once after step 16 is logged (mid-recording or mid-step), then a resumed
  // process killed a little later in its step, then a resume that runs to the end.
  kill_after(start_attnlab(train_arguments(killed, 2), {work.path(), work.path() / "first.log"}),
             killed, 16, std::chrono::milliseconds(0));
  check_complete_prefix(dump_path, 8);  // 0, 2, ..., 14 at least
  // Standard tools open what the kill left.
  const auto dumped = testing::run_command({"h5dump", "-H", dump_path.string()}, work.path());
  CHECK(dumped.exit_code == 0);
  const auto python = testing::run_command(
      {"/usr/bin/python3", std::string(ATTNLAB_SOURCE_DIR) + "/scripts/read_dump.py",
       dump_path.string()},
      work.path());
  INFO(python.output);
  CHECK(python.exit_code == 0);

  kill_after(start_attnlab(resume_arguments(killed), {work.path(), work.path() / "second.log"}),
             killed, 46, std::chrono::milliseconds(7));
  check_complete_prefix(dump_path, 23);  // 0 ... 44

  const auto finished = testing::run_attnlab(resume_arguments(killed), work.path());
  INFO(finished.output);
  REQUIRE(finished.exit_code == 0);
  const dump::DumpReader reader(dump_path);
  CHECK(reader.steps() == steps_every(2, 80));
  CHECK(statistics(dump_path) == statistics(straight / dump::kFileName));
  const auto summary = nlohmann::json::parse(read_text(killed / "summary.json"));
  CHECK(summary["recording"]["snapshots"] == 41);
}

TEST_CASE("a full disk stops the run with the dump's path and the checkpoint stays intact",
          "[record][slow]") {
  testing::TempDir work;
  const auto run_dir = work.path() / "run";
  // Every snapshot adds about 200 KB (uncompressed maps and statistics) and a flush reserves about
  // 1 MB ahead; a checkpoint is about 1.4 MB. At 5 MB per file the checkpoints fit and the dump
  // runs out of room after about 20 snapshots.
  const auto log = work.path() / "full.log";
  testing::Background how{work.path(), log};
  how.file_size_limit = 5'000'000;
  const auto child = start_attnlab(train_arguments(run_dir, /*every=*/1, /*compression=*/0), how);
  const int exit_code = wait_exit_code(child);
  const auto output = read_text(log);
  INFO(output);
  CHECK(exit_code == 1);
  CHECK_THAT(output, Catch::Contains((run_dir / dump::kFileName).string()) &&
                         Catch::Contains("File too large"));

  const auto checkpoints = train::step_checkpoints(run_dir / "checkpoints");
  REQUIRE_FALSE(checkpoints.empty());
  const auto state = train::load_checkpoint(checkpoints.front(), nullptr, nullptr);
  CHECK(state.step >= 10);
  CHECK(dump::DumpReader(run_dir / dump::kFileName).snapshots() >= state.step);

  // With room again, --resume finishes the run and the dump.
  const auto resumed = testing::run_attnlab(resume_arguments(run_dir), work.path());
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK(dump::DumpReader(run_dir / dump::kFileName).steps() == steps_every(1, 80));
}
