#include "experiments/sweep/slurm_launcher.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "experiments/run/atomic_file.h"
#include "experiments/run/shell_command.h"
#include "experiments/sweep/job_process.h"
#include "experiments/sweep/manifest.h"

namespace attnlab::sweep {
namespace {

using run::capture;
using run::shell_quote;

std::string common_lines(const SlurmSettings& settings, const std::string& job_name) {
  std::string text = "#SBATCH --job-name=" + job_name + "\n";
  text += "#SBATCH --chdir=" + std::filesystem::current_path().string() + "\n";
  if (!settings.partition.empty()) text += "#SBATCH --partition=" + settings.partition + "\n";
  return text;
}

// "1234" or "1234;cluster" from sbatch --parsable.
std::string submit(const std::filesystem::path& script) {
  const auto result = capture({"sbatch", "--parsable", script.string()});
  // The id line ("1234" or "1234;cluster"); warnings may come before it.
  std::string id;
  std::istringstream lines(result.output);
  for (std::string line; id.empty() && std::getline(lines, line);) {
    const auto candidate = line.substr(0, line.find(';'));
    if (!candidate.empty() && candidate.find_first_not_of("0123456789") == std::string::npos) {
      id = candidate;
    }
  }
  if (result.exit_code != 0 || id.empty()) {
    throw run::IoError("sbatch " + script.string() + " failed (exit " +
                       std::to_string(result.exit_code) + ")" +
                       (result.output.empty() ? "" : ": " + result.output) +
                       "; is Slurm running? (scripts/slurm-local.sh start for a local cluster)");
  }
  return id;
}

}  // namespace

std::string array_script(const std::filesystem::path& sweep_dir, const SlurmSettings& settings,
                         const std::vector<std::int64_t>& jobs, const std::string& job_name) {
  std::string indices;
  for (const auto job : jobs) indices += (indices.empty() ? "" : ",") + std::to_string(job);
  if (settings.array_parallelism > 0) indices += "%" + std::to_string(settings.array_parallelism);
  std::string text = "#!/bin/bash\n# attnlab sweep: one array task per job.\n";
  text += common_lines(settings, job_name);
  text += "#SBATCH --array=" + indices + "\n";
  text += "#SBATCH --output=" + (sweep_dir / "logs" / "slurm-%A_%a.out").string() + "\n";
  text += "#SBATCH --cpus-per-task=" + std::to_string(settings.cpus_per_task) + "\n";
  text += "#SBATCH --time=" + settings.time + "\n";
  if (!settings.mem.empty()) text += "#SBATCH --mem=" + settings.mem + "\n";
  for (const auto& line : settings.extra) text += "#SBATCH " + line + "\n";
  text += fmt::format("exec {} sweep job {} --index \"$SLURM_ARRAY_TASK_ID\" --threads {}\n",
                      shell_quote(attnlab_binary().string()), shell_quote(sweep_dir.string()),
                      settings.cpus_per_task);
  return text;
}

std::string compare_script(const std::filesystem::path& sweep_dir, const std::string& array_job,
                           const SlurmSettings& settings, const std::string& job_name) {
  std::string text = "#!/bin/bash\n# attnlab sweep: compare the sweep's runs once the array is over.\n";
  text += common_lines(settings, job_name + "-compare");
  text += "#SBATCH --dependency=afterany:" + array_job + "\n";
  text += "#SBATCH --output=" + (sweep_dir / "logs" / "slurm-compare-%j.out").string() + "\n";
  text += "#SBATCH --cpus-per-task=1\n#SBATCH --time=00:10:00\n";
  text += fmt::format("exec {} compare {}\n", shell_quote(attnlab_binary().string()),
                      shell_quote(sweep_dir.string()));
  return text;
}

SlurmSubmission submit_slurm(const std::filesystem::path& sweep_dir, const SlurmSettings& settings,
                             const std::vector<std::int64_t>& jobs, const std::string& job_name) {
  const auto slurm_dir = sweep_dir / "slurm";
  std::filesystem::create_directories(slurm_dir);
  std::filesystem::create_directories(sweep_dir / "logs");
  const auto submission = submitted_jobs(sweep_dir).size() / 2;
  const auto array_file = slurm_dir / fmt::format("array-{}.sbatch", submission);
  run::write_file_atomic(array_file, array_script(sweep_dir, settings, jobs, job_name));
  SlurmSubmission result;
  result.array_job = submit(array_file);
  update_manifest(sweep_dir, [&](std::vector<ManifestEntry>& entries) {
    for (const auto job : jobs) {
      auto& entry = entry_of(entries, job);
      entry.status = "submitted";
      entry.slurm_job = result.array_job + "_" + std::to_string(job);
    }
  });
  const auto compare_file = slurm_dir / fmt::format("compare-{}.sbatch", submission);
  run::write_file_atomic(compare_file,
                         compare_script(sweep_dir, result.array_job, settings, job_name));
  result.compare_job = submit(compare_file);
  std::ofstream(slurm_dir / "jobs.txt", std::ios::app)
      << "array " << result.array_job << "\ncompare " << result.compare_job << "\n";
  return result;
}

std::vector<std::string> submitted_jobs(const std::filesystem::path& sweep_dir) {
  std::vector<std::string> ids;
  std::ifstream in(sweep_dir / "slurm" / "jobs.txt");
  std::string kind, id;
  while (in >> kind >> id) ids.push_back(id);
  return ids;
}

std::vector<std::string> queued_jobs(const std::vector<std::string>& ids) {
  if (ids.empty()) return {};
  std::string list;
  for (const auto& id : ids) list += (list.empty() ? "" : ",") + id;
  // %F: the array's job id for array tasks, the job id otherwise.
  const auto result = capture({"squeue", "-h", "-o", "%F", "-t",
                               "PENDING,CONFIGURING,RUNNING,SUSPENDED,COMPLETING", "-j", list});
  std::vector<std::string> queued;
  if (result.exit_code != 0) return queued;
  std::istringstream lines(result.output);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty()) queued.push_back(line);
  }
  return queued;
}

}  // namespace attnlab::sweep
