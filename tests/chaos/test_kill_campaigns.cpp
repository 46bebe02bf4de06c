// Kill campaigns (label `chaos`): processes killed with SIGKILL at random moments, the way a
// shared machine's OOM killer, a pre-empted Slurm node or a power cut stops them, and started
// again the way a user would. Nothing may be lost or come out different:
// - a recording run killed ATTNLAB_CHAOS_KILLS times (default 10) and resumed each time ends with
//   the metrics.csv (timing columns aside) and attention.h5 (every step, map and statistic) of an
//   uninterrupted run with the same seed; after every kill the dump opens and every checkpoint
//   loads;
// - a sweep whose launcher and jobs are killed together, several times: the manifest parses after
//   every kill, and running the sweep again runs only the jobs that had not finished.
// The moments come from ATTNLAB_CHAOS_SEED (default: random, printed so a failure can be
// replayed).
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "dump/dump_reader.h"
#include "experiments/train/checkpoint.h"
#include "tests/support/background_attnlab.h"
#include "tests/support/files.h"
#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;
using testing::read_text;

namespace {

namespace fs = std::filesystem;

std::uint64_t campaign_seed() {
  if (const char* text = std::getenv("ATTNLAB_CHAOS_SEED")) return std::stoull(text);
  return std::random_device{}();
}

int campaign_kills() {
  const char* text = std::getenv("ATTNLAB_CHAOS_KILLS");
  return text != nullptr ? std::stoi(text) : 10;
}

// Runs `start()` in the background and kills it after a random delay, counted from when
// `ready()` first holds, unless it ends first. Returns true when it was killed.
template <typename Start>
bool run_and_kill(Start start, std::mt19937_64& random, std::chrono::milliseconds longest,
                  const std::function<bool()>& ready = [] { return true; }) {
  const pid_t child = start();
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (!ready()) {
    int status = 0;
    REQUIRE(::waitpid(child, &status, WNOHANG) == 0);  // still running
    REQUIRE(std::chrono::steady_clock::now() < give_up);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::uniform_int_distribution<std::int64_t> delay(20, longest.count());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(delay(random));
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(child, &status, WNOHANG) == child) {
      INFO("ended before its kill with status " << status);
      CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  REQUIRE(::kill(-child, SIGKILL) == 0);  // its own group: the process and what it started
  const int code = testing::wait_exit_code(child);
  if (code == 0) return false;  // it finished between the last look and the kill
  CHECK(code == -SIGKILL);
  return true;
}

// Long enough (about 20 s) that ten kills at most 2.5 s into each start cannot see it finish.
std::vector<std::string> train_arguments(const fs::path& run_dir) {
  return {"train", "--run-dir", run_dir.string(), "train.steps=300", "train.warmup=5",
          "train.log_every=2", "train.eval_every=20", "train.checkpoint_every=10",
          "task.val_examples=64", "record.every=4", "runtime.progress=none",
          "runtime.threads=1"};
}

// What a user does after a crash: resume a run that has its config, start one that has not.
std::vector<std::string> restart_arguments(const fs::path& run_dir) {
  if (fs::exists(run_dir / "config.toml")) {
    return {"train", "--resume", run_dir.string(), "runtime.progress=none", "runtime.threads=1"};
  }
  fs::remove_all(run_dir);  // killed before its config was written: nothing to keep
  return train_arguments(run_dir);
}

// metrics.csv without the columns that measure time (tokens_per_s, elapsed_s).
std::string untimed_metrics(const fs::path& run_dir) {
  std::istringstream in(read_text(run_dir / "metrics.csv"));
  std::string line, kept;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::stringstream row(line);
    for (std::string field; std::getline(row, field, ',');) fields.push_back(field);
    REQUIRE(fields.size() == 8);  // step,split,loss,accuracy,sequence_accuracy,lr,tokens_per_s,elapsed_s
    for (std::size_t i = 0; i < 6; ++i) kept += fields[i] + (i < 5 ? "," : "\n");
  }
  return kept;
}

// After a kill: the dump (if any) opens and holds a prefix of the schedule, every checkpoint
// loads.
void check_after_kill(const fs::path& run_dir) {
  if (fs::exists(run_dir / dump::kFileName)) {
    const dump::DumpReader reader(run_dir / dump::kFileName);
    for (std::size_t i = 0; i < reader.steps().size(); ++i) {
      CHECK(reader.steps()[i] == static_cast<std::int64_t>(4 * i));
    }
  }
  for (const auto& checkpoint : train::step_checkpoints(run_dir / "checkpoints")) {
    INFO(checkpoint);
    CHECK_NOTHROW(train::load_checkpoint(checkpoint, nullptr, nullptr));
  }
}

// Every map and statistic of two dumps, compared exactly; returns the bytes compared.
std::uint64_t compare_dumps(const fs::path& a, const fs::path& b) {
  const dump::DumpReader left(a), right(b);
  REQUIRE(left.steps() == right.steps());
  REQUIRE(left.layers().size() == right.layers().size());
  std::uint64_t bytes = 0;
  for (std::int64_t layer = 0; layer < static_cast<std::int64_t>(left.layers().size()); ++layer) {
    for (std::int64_t snapshot = 0; snapshot < left.snapshots(); ++snapshot) {
      for (std::int64_t sample = 0; sample < left.samples(); ++sample) {
        for (std::int64_t head = 0; head < left.layers()[layer].heads; ++head) {
          const auto map = left.map(layer, snapshot, sample, head);
          REQUIRE(map == right.map(layer, snapshot, sample, head));
          bytes += map.size() * sizeof(float);
        }
      }
    }
    for (const auto& statistic : dump::kStatistics) {
      if (!left.has(dump::layer_group(layer) + "/" + statistic.name)) continue;
      const auto values = left.statistic(layer, statistic.name).values;
      REQUIRE(values == right.statistic(layer, statistic.name).values);
      bytes += values.size() * sizeof(float);
    }
  }
  return bytes;
}

std::vector<nlohmann::json> manifest(const fs::path& sweep) {
  std::vector<nlohmann::json> entries;
  std::ifstream in(sweep / "manifest.jsonl");
  for (std::string line; std::getline(in, line);) {
    INFO("manifest line: " << line);
    REQUIRE_NOTHROW(entries.push_back(nlohmann::json::parse(line)));
  }
  return entries;
}

}  // namespace

TEST_CASE("a recording run killed at random moments resumes to an identical result",
          "[chaos]") {
  const auto seed = campaign_seed();
  const int kills = campaign_kills();
  std::printf("kill campaign: seed %llu (ATTNLAB_CHAOS_SEED), %d kills\n",
              static_cast<unsigned long long>(seed), kills);
  std::mt19937_64 random(seed);
  testing::TempDir work;
  const auto straight = work.path() / "straight";
  const auto uninterrupted = testing::run_attnlab(train_arguments(straight), work.path());
  INFO(uninterrupted.output);
  REQUIRE(uninterrupted.exit_code == 0);

  const auto killed = work.path() / "killed";
  int survived = 0;
  int attempts = 0;
  while (survived < kills) {
    REQUIRE(++attempts < 4 * kills);  // a kill needs the process to live long enough
    const auto log = work.path() / ("attempt-" + std::to_string(attempts) + ".log");
    // Most kills land anywhere, start-up included; the last waits for a checkpoint, so that the
    // final start surely resumes from one, whatever the machine's speed.
    const bool last = survived + 1 == kills;
    const bool was_killed = run_and_kill(
        [&] {
          return testing::start_attnlab(restart_arguments(killed),
                                        {work.path(), log, /*own_group=*/true});
        },
        random, std::chrono::milliseconds(2500), [&] {
          return !last || !train::step_checkpoints(killed / "checkpoints").empty();
        });
    INFO(read_text(log));
    if (!was_killed) {
      // It finished before its kill: start over, so every kill meets a run in progress.
      fs::remove_all(killed);
      continue;
    }
    ++survived;
    check_after_kill(killed);
  }
  const auto finished = testing::run_attnlab(restart_arguments(killed), work.path());
  INFO(finished.output);
  REQUIRE(finished.exit_code == 0);
  // The campaign must have met the run in progress, not only in its start-up.
  CHECK_THAT(read_text(killed / "train.log"), Catch::Contains("resumed from"));

  CHECK(untimed_metrics(killed) == untimed_metrics(straight));
  const auto bytes = compare_dumps(killed / dump::kFileName, straight / dump::kFileName);
  check_after_kill(killed);
  std::printf("kill campaign: %d kills survived in %d starts; %llu bytes of maps and statistics "
              "identical to the uninterrupted run\n",
              survived, attempts + 1, static_cast<unsigned long long>(bytes));
}

TEST_CASE("a sweep killed with its jobs runs only the missing jobs when started again",
          "[chaos]") {
  const auto seed = campaign_seed();
  std::printf("sweep kill campaign: seed %llu (ATTNLAB_CHAOS_SEED)\n",
              static_cast<unsigned long long>(seed));
  std::mt19937_64 random(seed);
  testing::TempDir work;
  const auto results = work.path() / "results";
  const std::vector<std::string> command = {
      "sweep", "seed=range(0,6)", "train.steps=60", "train.eval_every=30",
      "train.checkpoint_every=10", "record.every=0", "runtime.progress=none", "--jobs", "2",
      "experiment.results_dir=" + results.string()};
  const auto sweep_dir = [&] {
    for (const auto& experiment : fs::directory_iterator(results)) {
      for (const auto& entry : fs::directory_iterator(experiment.path())) return entry.path();
    }
    return fs::path();
  };

  int kills = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const auto log = work.path() / ("launcher-" + std::to_string(attempt) + ".log");
    kills += run_and_kill(
        [&] { return testing::start_attnlab(command, {work.path(), log, /*own_group=*/true}); },
        random, std::chrono::milliseconds(6000));
    INFO(read_text(log));
    if (!fs::exists(results)) continue;
    const auto sweep = sweep_dir();
    if (fs::exists(sweep / "manifest.jsonl")) {
      const auto entries = manifest(sweep);
      CHECK(entries.size() == 6);
    }
  }
  REQUIRE(fs::exists(results));
  CHECK(kills >= 1);
  const auto sweep = sweep_dir();
  // The jobs that had finished, and when their summaries were written.
  std::map<std::string, fs::file_time_type> finished_before;
  for (const auto& entry : manifest(sweep)) {
    const auto summary = sweep / entry["run_dir"].get<std::string>() / "summary.json";
    if (fs::exists(summary)) finished_before[entry["run_dir"]] = fs::last_write_time(summary);
  }

  const auto last = testing::run_attnlab(command, work.path());
  INFO(last.output);
  REQUIRE(last.exit_code == 0);
  CHECK_THAT(last.output, Catch::Contains("6 jobs, " + std::to_string(6 - finished_before.size()) +
                                          " to run"));
  for (const auto& entry : manifest(sweep)) {
    CHECK(entry["status"] == "finished");
    const auto run = entry["run_dir"].get<std::string>();
    if (finished_before.count(run) != 0) {
      CHECK(fs::last_write_time(sweep / run / "summary.json") == finished_before[run]);
    }
  }
  std::printf("sweep kill campaign: %d kills, %zu of 6 jobs finished before the last start\n",
              kills, finished_before.size());
}
