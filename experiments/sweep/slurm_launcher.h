// The Slurm launcher: one job array per submission (one array task per unfinished job, each
// running `attnlab sweep job <sweep> --index <job>`, which updates the manifest and runs the job
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

// The sbatch script of an array over `jobs` (job indices in the manifest).
std::string array_script(const std::filesystem::path& sweep_dir, const SlurmSettings& settings,
                         const std::vector<std::int64_t>& jobs, const std::string& job_name);
std::string compare_script(const std::filesystem::path& sweep_dir, const std::string& array_job,
                           const SlurmSettings& settings, const std::string& job_name);

// Writes both scripts, submits them with sbatch and marks the jobs submitted in the manifest.
// Throws run::IoError with sbatch's own message when a submission fails.
SlurmSubmission submit_slurm(const std::filesystem::path& sweep_dir, const SlurmSettings& settings,
                             const std::vector<std::int64_t>& jobs, const std::string& job_name);

// Slurm jobs of this sweep still known to squeue (queued or running), by id; empty when squeue
// has none of them (or is not there).
std::vector<std::string> queued_jobs(const std::vector<std::string>& ids);

// Ids of every submission recorded in <sweep>/slurm/jobs.txt.
std::vector<std::string> submitted_jobs(const std::filesystem::path& sweep_dir);

}  // namespace attnlab::sweep
