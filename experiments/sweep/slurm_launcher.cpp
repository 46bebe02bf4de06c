#include "experiments/sweep/slurm_launcher.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "base/atomic_file.h"
#include "base/shell_command.h"
#include "experiments/sweep/job_process.h"
#include "experiments/sweep/manifest.h"

namespace attnlab::sweep {
namespace {

using attnlab::capture;
using attnlab::shell_quote;

std::string common_lines(const SlurmSettings& settings, const std::string& job_name) {
  std::string text = "#SBATCH --job-name=" + job_name + "\n";
  text += "#SBATCH --chdir=" + std::filesystem::current_path().string() + "\n";
  if (!settings.partition.empty()) text += "#SBATCH --partition=" + settings.partition + "\n";
  return text;
}

// "1234" or "1234;cluster" from sbatch --parsable.
std::string submit(const std::filesystem::path& script, bool hold) {
  std::vector<std::string> command = {"sbatch", "--parsable"};
  if (hold) command.push_back("--hold");
  command.push_back(script.string());
  const auto result = capture(command);
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
    throw attnlab::IoError("sbatch " + script.string() + " failed (exit " +
                       std::to_string(result.exit_code) + ")" +
                       (result.output.empty() ? "" : ": " + result.output) +
                       "; is Slurm running? (scripts/slurm-local.sh start for a local cluster)");
  }
  return id;
}

void release(const std::string& job) {
  const auto result = capture({"scontrol", "release", job});
  if (result.exit_code != 0) {
    throw attnlab::IoError("scontrol release " + job + " failed: " + result.output +
                       "; the array is held: release it by hand");
  }
}

}  // namespace

std::string array_script(const std::filesystem::path& sweep_dir, const SlurmSettings& settings,
                         const std::filesystem::path& job_list, std::size_t tasks,
                         const std::string& job_name) {
  // Tasks 0..n-1, each reading its job number from the list: indices stay below Slurm's
  // MaxArraySize whatever the job numbers are.
  std::string array = "0-" + std::to_string(tasks - 1);
  if (settings.array_parallelism > 0) array += "%" + std::to_string(settings.array_parallelism);
  std::string text = "#!/bin/bash\n# attnlab sweep: one array task per job (job numbers: " +
                     job_list.filename().string() + ", one per line).\n";
  text += common_lines(settings, job_name);
  text += "#SBATCH --array=" + array + "\n";
  text += "#SBATCH --output=" + (sweep_dir / "logs" / "slurm-%A_%a.out").string() + "\n";
  text += "#SBATCH --cpus-per-task=" + std::to_string(settings.cpus_per_task) + "\n";
  text += "#SBATCH --time=" + settings.time + "\n";
  if (!settings.mem.empty()) text += "#SBATCH --mem=" + settings.mem + "\n";
  for (const auto& line : settings.extra) text += "#SBATCH " + line + "\n";
  text += fmt::format("job=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" {})\n",
                      shell_quote(job_list.string()));
  text += fmt::format("exec {} sweep job {} --index \"$job\" --threads {}\n",
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
  const auto job_list = slurm_dir / fmt::format("array-{}.jobs", submission);
  std::string list;
  for (const auto job : jobs) list += std::to_string(job) + "\n";
  attnlab::write_file_atomic(job_list, list);
  const auto array_file = slurm_dir / fmt::format("array-{}.sbatch", submission);
  attnlab::write_file_atomic(array_file,
                         array_script(sweep_dir, settings, job_list, jobs.size(), job_name));
  // Submitted held, recorded, then released: a task that starts at once must find its job
  // marked submitted (not have its own "running" overwritten), and the id must be on disk before
  // anything else can fail.
  SlurmSubmission result;
  result.array_job = submit(array_file, /*hold=*/true);
  std::ofstream(slurm_dir / "jobs.txt", std::ios::app) << "array " << result.array_job << "\n";
  update_manifest(sweep_dir, [&](std::vector<ManifestEntry>& entries) {
    for (std::size_t task = 0; task < jobs.size(); ++task) {
      auto& entry = entry_of(entries, jobs[task]);
      entry.status = "submitted";
      entry.slurm_job = result.array_job + "_" + std::to_string(task);
    }
  });
  release(result.array_job);
  const auto compare_file = slurm_dir / fmt::format("compare-{}.sbatch", submission);
  attnlab::write_file_atomic(compare_file,
                         compare_script(sweep_dir, result.array_job, settings, job_name));
  result.compare_job = submit(compare_file, /*hold=*/false);
  std::ofstream(slurm_dir / "jobs.txt", std::ios::app) << "compare " << result.compare_job << "\n";
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
  if (result.exit_code != 0) {
    // Jobs the controller has forgotten (after MinJobAge) are not queued; anything else (no
    // controller) must not pass for "nothing queued", or finished work would be submitted again.
    if (result.output.find("Invalid job id") != std::string::npos) return {};
    throw attnlab::IoError("squeue failed (exit " + std::to_string(result.exit_code) +
                       "): " + result.output);
  }
  std::vector<std::string> queued;
  std::istringstream lines(result.output);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty()) queued.push_back(line);
  }
  return queued;
}

}  // namespace attnlab::sweep
