// `attnlab sweep` (and `attnlab train -m`): expand the parameters, check every job's config
// before anything runs, find or create the sweep folder, write sweep.toml and the manifest, run
// the unfinished jobs with the chosen launcher, then summarise (failures with the tail of their
// logs) and compare the sweep's runs. Also `sweep status` and `sweep job` (one job, for Slurm).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace attnlab::sweep {

struct SweepRequest {
  std::optional<std::filesystem::path> sweep_file;  // configs/sweep/*.toml
  std::filesystem::path config_file;                // empty: the sweep file's, else the default
  std::vector<std::string> arguments;               // parameters and slurm.* settings
  std::string preset;                               // a [preset.<name>] of the sweep file
  std::string launcher = "local";                   // local | slurm
  int jobs = 1;                                     // local: jobs side by side
  bool retry_failed = false;
  bool dry_run = false;
  bool fresh = false;  // a new sweep folder even if this sweep ran before
  bool wait = false;   // slurm: wait until the array and compare jobs are over
};

// Some jobs failed (exit code 1), or the sweep was interrupted (exit code 130).
class SweepFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class SweepInterrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Returns the sweep folder (nothing is created with dry_run).
std::filesystem::path run_sweep(const SweepRequest& request);

// A table of the manifest, with Slurm's view of submitted jobs when there are any.
std::string sweep_status(const std::filesystem::path& sweep_dir);

// Runs job `index` of a sweep in this process's place (Slurm array tasks); returns its exit code.
int run_sweep_job(const std::filesystem::path& sweep_dir, std::int64_t index, int threads);

}  // namespace attnlab::sweep
