// The local launcher: runs a sweep's unfinished jobs on this machine, `jobs` at a time, splitting
// the cores between them (runtime.threads = cores / jobs, at least 1). The manifest is updated as
// each job starts and ends. Ctrl-C (SIGINT) or SIGTERM stops cleanly: running jobs get SIGTERM
// (SIGKILL on a second Ctrl-C), are waited for and recorded as interrupted; a later run of the
// same sweep resumes them from their checkpoints. Each job is run under its job lock
// (job_process.h), so a job another runner holds (a Slurm task, say) is left to it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace attnlab::sweep {

struct LocalOutcome {
  std::vector<std::int64_t> ran;  // jobs started by this launcher
  bool interrupted = false;
};

// `todo`: the jobs to run, in order. The caller holds the sweep lock.
LocalOutcome run_local(const std::filesystem::path& sweep_dir,
                       const std::filesystem::path& config_file,
                       const std::vector<std::int64_t>& todo, int jobs);

}  // namespace attnlab::sweep
