// The Slurm launcher against a real Slurm: scripts/slurm-local.sh starts a one-node cluster
// (slurmctld, slurmd, munge) in a temporary folder; a 2 x 2 sweep is submitted as a job array
// with --wait; every job must finish through its array task, the dependent compare job must have
// written the comparison, `sweep status` must show the array tasks, and submitting again must
// submit nothing. Labelled `slurm` (needs root and Debian's slurm packages: scripts/setup.sh).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "tests/support/run_command.h"
#include "tests/support/files.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;
using testing::read_text;

namespace {

// Starts the local cluster for the test's lifetime and stops it afterwards.
class LocalSlurm {
 public:
  explicit LocalSlurm(const std::filesystem::path& dir) : dir_(dir) {
    const auto script = std::filesystem::path(ATTNLAB_SOURCE_DIR) / "scripts" / "slurm-local.sh";
    script_ = script.string();
    // A port of its own, so a cluster a developer runs on the default port is left alone.
    ::setenv("ATTNLAB_SLURM_PORT", "16917", 1);
    std::filesystem::create_directories(dir_);
    start_ = testing::run_command({script_, "start", dir_.string()}, dir_);
    ::setenv("SLURM_CONF", (dir_ / "slurm.conf").c_str(), 1);
  }
  ~LocalSlurm() { testing::run_command({script_, "stop", dir_.string()}, dir_); }
  const testing::CommandResult& start() const { return start_; }

 private:
  std::filesystem::path dir_;
  std::string script_;
  testing::CommandResult start_;
};

}  // namespace

TEST_CASE("a 2 x 2 sweep runs as a Slurm job array and is compared by a dependent job",
          "[sweep][slurm]") {
  testing::TempDir directory("attnlab-slurm");
  const LocalSlurm slurm(directory.path() / "cluster");
  INFO(slurm.start().output);
  REQUIRE(slurm.start().exit_code == 0);

  const auto results = directory.path() / "results";
  const std::vector<std::string> command = {
      "sweep", "--launcher", "slurm", "--wait", "slurm.cpus_per_task=1", "slurm.time=00:10:00",
      "variant=scaled,rope", "seed=0,1", "train.steps=20", "record.every=0",
      "experiment.results_dir=" + results.string()};
  const auto submitted = testing::run_attnlab(command, directory.path());
  INFO(submitted.output);
  REQUIRE(submitted.exit_code == 0);
  CHECK_THAT(submitted.output, Catch::Contains("submitted array job"));
  CHECK_THAT(submitted.output, Catch::Contains("4 jobs: 4 finished"));

  std::filesystem::path sweep;
  for (const auto& entry : std::filesystem::directory_iterator(results / "default")) sweep = entry.path();
  std::ifstream manifest(sweep / "manifest.jsonl");
  std::string line;
  int finished = 0;
  while (std::getline(manifest, line)) {
    const auto entry = nlohmann::json::parse(line);
    CHECK(entry["status"] == "finished");
    CHECK_FALSE(entry["slurm_job"].get<std::string>().empty());
    finished += entry["status"] == "finished";
    CHECK(std::filesystem::exists(sweep / entry["run_dir"].get<std::string>() / "summary.json"));
  }
  CHECK(finished == 4);
  CHECK_THAT(read_text(sweep / "slurm" / "array-0.sbatch"), Catch::Contains("#SBATCH --array=0-3"));
  CHECK(read_text(sweep / "slurm" / "array-0.jobs") == "0\n1\n2\n3\n");
  // The compare job ran after the array: its output and files are there.
  CHECK(std::filesystem::exists(sweep / "compare" / "compare.md"));
  CHECK_THAT(read_text(sweep / "compare" / "compare.md"), Catch::Contains("rope"));

  const auto status = testing::run_attnlab({"sweep", "status", sweep.string()}, directory.path());
  CHECK(status.exit_code == 0);
  CHECK_THAT(status.output, Catch::Contains("finished"));
  CHECK_THAT(status.output, Catch::Contains("_3 "));  // the array task of job 3

  // Everything finished: submitting again submits nothing.
  const auto again = testing::run_attnlab(command, directory.path());
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.output, Catch::Contains("4 jobs, 0 to run"));
  CHECK_THAT(again.output, !Catch::Contains("submitted array job"));

  // A job Slurm killed (time limit, scancel) is left interrupted: the next submission runs that
  // job only, as a one-task array.
  const auto lost = sweep / "002-variant=rope,seed=0";
  std::filesystem::remove_all(lost);
  std::string rewritten;
  {
    std::ifstream in(sweep / "manifest.jsonl");
    for (std::string entry_line; std::getline(in, entry_line);) {
      auto entry = nlohmann::json::parse(entry_line);
      if (entry["job"] == 2) entry["status"] = "interrupted";
      rewritten += entry.dump() + "\n";
    }
  }
  std::ofstream(sweep / "manifest.jsonl") << rewritten;
  const auto resubmitted = testing::run_attnlab(command, directory.path());
  INFO(resubmitted.output);
  CHECK(resubmitted.exit_code == 0);
  CHECK_THAT(resubmitted.output, Catch::Contains("4 jobs, 1 to run"));
  CHECK(read_text(sweep / "slurm" / "array-1.jobs") == "2\n");
  CHECK_THAT(read_text(sweep / "slurm" / "array-1.sbatch"), Catch::Contains("#SBATCH --array=0-0"));
  CHECK(std::filesystem::exists(lost / "summary.json"));
}
