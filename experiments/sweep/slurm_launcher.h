// The Slurm launcher: one job array per submission (one array task per unfinished job, each
// running `attnlab sweep job <sweep> --index <job>`; job numbers in slurm/array-<n>.jobs), which updates the manifest and runs the job
// like the local launcher), and a `compare` job that starts when the array is over
// (--dependency=afterany). The sbatch scripts are kept in <sweep>/slurm/, array task output in
// <sweep>/logs/slurm-<array>_<task>.out. Submission ids are appended to <sweep>/slurm/jobs.txt.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "experiments/sweep/sweep_spec.h"

namespace attnlab::sweep {

struct SlurmSubmission {
  std::string array_job;    // Slurm job id of the array
  std::string compare_job;  // of the dependent compare job
};

// The sbatch script of an array of `tasks` tasks; task i runs the job on line i + 1 of job_list.
std::string array_script(const std::filesystem::path& sweep_dir, const SlurmSettings& settings,
                         const std::filesystem::path& job_list, std::size_t tasks,
                         const std::string& job_name);
std::string compare_script(const std::filesystem::path& sweep_dir, const std::string& array_job,
                           const SlurmSettings& settings, const std::string& job_name);

// Writes both scripts, submits them with sbatch (the array held until the manifest marks its jobs
// submitted) and records the ids. Throws attnlab::IoError with sbatch's own message when a
// submission fails.
SlurmSubmission submit_slurm(const std::filesystem::path& sweep_dir, const SlurmSettings& settings,
                             const std::vector<std::int64_t>& jobs, const std::string& job_name);

// The jobs among `ids` that squeue lists as queued or running (by job id); empty when none are.
// Throws attnlab::IoError when squeue fails for another reason than not knowing the ids.
std::vector<std::string> queued_jobs(const std::vector<std::string>& ids);

// Ids of every submission recorded in <sweep>/slurm/jobs.txt.
std::vector<std::string> submitted_jobs(const std::filesystem::path& sweep_dir);

}  // namespace attnlab::sweep
