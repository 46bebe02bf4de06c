// One sweep job as a process: `attnlab train` for the job's run folder, started fresh, resumed
// from its newest checkpoint, or not at all when the run already finished. Output is appended to
// <sweep>/logs/<job>.log. Both launchers (and Slurm array tasks) run jobs through this.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/file_lock.h"
#include "base/forked_child.h"
#include "experiments/sweep/manifest.h"

namespace attnlab::sweep {

inline constexpr const char* kSweepFile = "sweep.toml";

// The attnlab binary running now (/proc/self/exe), so jobs run the same build.
std::filesystem::path attnlab_binary();

bool run_finished(const std::filesystem::path& run_dir);  // summary.json is written

// The job's lock (<sweep>/locks/<job>.lock), taken without waiting: whoever holds it runs the job;
// held() is false when another process runs it now.
attnlab::FileLock job_lock(const std::filesystem::path& sweep_dir, std::int64_t job);

std::filesystem::path job_log(const std::filesystem::path& sweep_dir, const ManifestEntry& entry);

// The `attnlab train ...` arguments (without the binary) for an unfinished job: --resume when
// the run has a checkpoint; otherwise a fresh start (a partial run without checkpoint is removed
// first, so its log lines are not appended twice). threads: runtime.threads of the job. Call it
// holding the job's lock. Throws attnlab::IoError for a run folder that is not a plain name inside
// the sweep, or a finished run (neither may be removed).
std::vector<std::string> train_arguments(const std::filesystem::path& sweep_dir,
                                         const std::filesystem::path& config_file,
                                         const ManifestEntry& entry, int threads);

// Starts `binary arguments...` with stdin from /dev/null and stdout+stderr appended to `log`.
// Throws attnlab::IoError when the process cannot be started. The launchers wait for it
// themselves and read its status with attnlab::exit_code_of (base/forked_child.h).
pid_t spawn(const std::filesystem::path& binary, const std::vector<std::string>& arguments,
            const std::filesystem::path& log);

// The last `lines` lines of a log (for failure summaries).
std::string log_tail(const std::filesystem::path& log, int lines);

// The base config file recorded in <sweep>/sweep.toml.
std::filesystem::path sweep_config_file(const std::filesystem::path& sweep_dir);

}  // namespace attnlab::sweep
