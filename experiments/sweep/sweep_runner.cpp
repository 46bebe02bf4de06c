#include "experiments/sweep/sweep_runner.h"

#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <map>
#include <sstream>
#include <thread>

#include <fmt/core.h>

#include "analysis/compare/comparison.h"
#include "experiments/config/config.h"
#include "base/atomic_file.h"
#include "experiments/run/preflight.h"
#include "experiments/run/schema.h"
#include "experiments/train/cost_estimate.h"
#include "base/shell_command.h"
#include "base/file_lock.h"
#include "experiments/sweep/job_process.h"
#include "experiments/sweep/local_launcher.h"
#include "experiments/sweep/manifest.h"
#include "experiments/sweep/slurm_launcher.h"
#include "experiments/sweep/sweep_spec.h"

namespace attnlab::sweep {
namespace {

// The manifest of a new sweep, or the existing one brought in line with the run folders (a job
// whose run finished while nobody could record it is finished).
void prepare_manifest(const std::filesystem::path& sweep_dir, const std::vector<SweepJob>& jobs) {
  update_manifest(sweep_dir, [&](std::vector<ManifestEntry>& entries) {
    if (entries.empty()) {
      for (const auto& job : jobs) {
        ManifestEntry entry;
        entry.job = job.index;
        entry.overrides = job.overrides;
        entry.run_dir = job.name;
        entries.push_back(std::move(entry));
      }
    }
    // The same hash should mean the same jobs; a manifest that disagrees is not this sweep's.
    bool same = entries.size() == jobs.size();
    for (std::size_t index = 0; same && index < jobs.size(); ++index) {
      same = entries[index].job == jobs[index].index &&
             entries[index].overrides == jobs[index].overrides;
    }
    if (!same) {
      throw config::ConfigError(sweep_dir.string() + "/" + kManifestFile +
                                " lists other jobs than this sweep's; start a new sweep with --new");
    }
    for (auto& entry : entries) {
      if (!entry.done() && run_finished(sweep_dir / entry.run_dir)) {
        entry.status = "finished";
        if (entry.exit_code < 0) entry.exit_code = 0;
      }
    }
  });
}

std::vector<std::int64_t> unfinished(const std::vector<ManifestEntry>& entries, bool retry_failed) {
  std::vector<std::int64_t> todo;
  for (const auto& entry : entries) {
    if (entry.done() || (entry.status == "failed" && !retry_failed)) continue;
    todo.push_back(entry.job);
  }
  return todo;
}

std::string summary(const std::filesystem::path& sweep_dir, bool retry_hint) {
  const auto entries = read_manifest(sweep_dir);
  std::map<std::string, int> counts;
  for (const auto& entry : entries) ++counts[entry.status];
  std::string text = fmt::format("sweep {}: {} jobs:", sweep_dir.string(), entries.size());
  for (const auto& [status, count] : counts) text += fmt::format(" {} {}", count, status);
  text += "\n";
  for (const auto& entry : entries) {
    if (entry.status != "failed") continue;
    text += fmt::format("failed: {} (exit {}), last lines of {}:\n{}", entry.run_dir,
                        entry.exit_code, job_log(sweep_dir, entry).string(),
                        log_tail(job_log(sweep_dir, entry), 12));
  }
  if (retry_hint && counts["failed"] > 0) {
    text += "run the same command with --retry-failed to run the failed jobs again\n";
  }
  return text;
}

void compare_sweep(const std::filesystem::path& sweep_dir) {
  std::vector<analysis::RunResult> runs;
  try {
    runs = analysis::load_runs({sweep_dir});
  } catch (const std::invalid_argument& error) {
    fmt::print("compare: {}\n", error.what());
    return;
  }
  const auto comparison = analysis::compare_runs(runs);
  fmt::print("{}", analysis::comparison_table(comparison));
  for (const auto& file : analysis::write_comparison(comparison, sweep_dir / "compare")) {
    fmt::print("written {}\n", file.string());
  }
}

std::string slurm_job_name(const std::filesystem::path& sweep_dir) {
  return "attnlab-" + sweep_dir.filename().string();
}

void check_launcher(const SweepRequest& request) {
  if (request.launcher != "local" && request.launcher != "slurm") {
    throw config::ConfigError("--launcher " + request.launcher + ": expected local or slurm");
  }
  if (request.jobs < 1) throw config::ConfigError("--jobs must be at least 1");
}

struct ValidatedJobs {
  config::Config first;                  // job 0's: where the sweep's folder goes
  std::vector<std::string> job_configs;  // every job's resolved config (TOML), for the hash
};

// Every job's config composes and validates before anything runs or is written.
ValidatedJobs validate_jobs(const SweepSpec& spec, const std::vector<SweepJob>& jobs,
                            const SweepRequest& request) {
  ValidatedJobs validated;
  // Local jobs share this machine, `--jobs` at a time; Slurm's nodes are elsewhere, and whether
  // they have the device and the memory is theirs to say when a job starts.
  const bool local = request.launcher == "local";
  const auto side_by_side =
      std::min<std::int64_t>(request.jobs, static_cast<std::int64_t>(jobs.size()));
  for (const auto& job : jobs) {
    try {
      const auto composed = run::load_config(spec.config_file, job.overrides);
      run::check_shapes(composed);
      if (local) {
        run::check_device_available(composed);
        train::check_memory(train::estimate_cost(composed), composed, side_by_side);
      }
      validated.job_configs.push_back(composed.to_toml());
      if (job.index == 0) validated.first = composed;
    } catch (const config::ConfigError& error) {
      throw config::ConfigError(fmt::format("sweep job {} ({}): {}", job.index, job.name,
                                            error.what()));
    }
  }
  return validated;
}

// --dry-run: the jobs and their overrides.
void print_jobs(const SweepSpec& spec, const std::vector<SweepJob>& jobs) {
  fmt::print("{} jobs over {}:\n", jobs.size(), spec.config_file.string());
  for (const auto& job : jobs) {
    std::string overrides;
    for (const auto& text : job.overrides) overrides += " " + text;
    fmt::print("  {}:{}\n", job.name, overrides);
  }
}

std::filesystem::path sweep_folder(const ValidatedJobs& validated, const SweepSpec& spec,
                                   bool fresh) {
  const auto& first = validated.first;
  const auto experiment_dir = std::filesystem::path(first.get_string("experiment.results_dir")) /
                              first.get_string("experiment.name");
  const auto hash = sweep_hash(spec, validated.job_configs);
  return std::filesystem::absolute(sweep_directory(experiment_dir, hash, fresh));
}

void run_local_sweep(const std::filesystem::path& sweep_dir, const SweepSpec& spec,
                     const std::vector<std::int64_t>& todo, int jobs) {
  const auto outcome = run_local(sweep_dir, spec.config_file, todo, jobs);
  fmt::print("{}", summary(sweep_dir, /*retry_hint=*/true));
  if (outcome.interrupted) {
    throw SweepInterrupted("sweep interrupted; run the same command again to continue");
  }
  compare_sweep(sweep_dir);
}

void run_slurm_sweep(const std::filesystem::path& sweep_dir, const SweepSpec& spec,
                     const std::vector<std::int64_t>& todo, bool wait) {
  if (!todo.empty()) {
    // Jobs already queued or running on Slurm are not submitted twice.
    const auto queued = queued_jobs(submitted_jobs(sweep_dir));
    if (!queued.empty()) {
      throw config::ConfigError("sweep " + sweep_dir.string() + " still has Slurm jobs queued (" +
                                queued.front() + "); `attnlab sweep status " +
                                sweep_dir.string() + "` shows them");
    }
    const auto submission = submit_slurm(sweep_dir, spec.slurm, todo, slurm_job_name(sweep_dir));
    fmt::print("submitted array job {} ({} tasks) and compare job {}\n", submission.array_job,
               todo.size(), submission.compare_job);
    fmt::print("progress: attnlab sweep status {}\n", sweep_dir.string());
    std::fflush(stdout);
    if (wait) {
      while (!queued_jobs({submission.array_job, submission.compare_job}).empty()) {
        std::this_thread::sleep_for(std::chrono::seconds(2));
      }
    }
  }
  if (wait || todo.empty()) fmt::print("{}", summary(sweep_dir, /*retry_hint=*/true));
}

void check_every_job_finished(const std::filesystem::path& sweep_dir) {
  std::int64_t unfinished_jobs = 0;
  for (const auto& entry : read_manifest(sweep_dir)) unfinished_jobs += entry.done() ? 0 : 1;
  if (unfinished_jobs > 0) {
    throw SweepFailed(std::to_string(unfinished_jobs) + " job(s) of sweep " +
                      sweep_dir.string() + " did not finish");
  }
}

}  // namespace

std::filesystem::path run_sweep(const SweepRequest& request) {
  check_launcher(request);
  const auto spec = load_sweep(request.sweep_file, request.config_file, request.arguments,
                               request.preset);
  const auto jobs = sweep_jobs(spec);
  const auto base = run::load_config(spec.config_file, {});
  const auto validated = validate_jobs(spec, jobs, request);
  if (request.dry_run) {
    print_jobs(spec, jobs);
    return {};
  }
  const auto sweep_dir = sweep_folder(validated, spec, request.fresh);
  // One launcher per sweep while it decides what to run and runs or submits it.
  const attnlab::FileLock sweep_lock(sweep_dir / "sweep.lock", /*wait=*/false);
  if (!sweep_lock.held()) {
    throw config::ConfigError("sweep " + sweep_dir.string() +
                              " is being run by another launcher (sweep.lock is held); wait for it "
                              "or stop it first");
  }
  if (!std::filesystem::exists(sweep_dir / kSweepFile)) {
    attnlab::write_file_atomic(sweep_dir / kSweepFile, sweep_toml(spec, base.to_toml()));
  }
  prepare_manifest(sweep_dir, jobs);
  const auto todo = unfinished(read_manifest(sweep_dir), request.retry_failed);
  fmt::print("sweep {}: {} jobs, {} to run ({} launcher)\n", sweep_dir.string(), jobs.size(),
             todo.size(), request.launcher);
  std::fflush(stdout);
  if (request.launcher == "local") {
    run_local_sweep(sweep_dir, spec, todo, request.jobs);
  } else {
    run_slurm_sweep(sweep_dir, spec, todo, request.wait);
  }
  // Once everything ran (local, or Slurm with --wait), any job not finished is a failure: failed,
  // or left running by a task Slurm killed (time limit, scancel).
  if (request.launcher == "local" || request.wait) check_every_job_finished(sweep_dir);
  return sweep_dir;
}

std::string sweep_status(const std::filesystem::path& sweep_dir) {
  if (!std::filesystem::exists(sweep_dir / kManifestFile)) {
    throw config::ConfigError(sweep_dir.string() + " is not a sweep folder (no " +
                              std::string(kManifestFile) + ")");
  }
  const auto entries = read_manifest(sweep_dir);
  // Slurm's view: which array tasks are still queued or running.
  std::map<std::string, std::string> slurm_state;
  const auto ids = submitted_jobs(sweep_dir);
  if (!ids.empty()) {
    std::string list;
    for (const auto& id : ids) list += (list.empty() ? "" : ",") + id;
    const auto result = attnlab::capture({"squeue", "-h", "-r", "-o", "%i %T", "-j", list});
    std::istringstream lines(result.exit_code == 0 ? result.output : "");
    std::string id, state;
    while (lines >> id >> state) slurm_state[id] = state;
  }
  std::string text = fmt::format("{:<5} {:<12} {:>4} {:<20} {:<14} {}\n", "job", "status", "exit",
                                 "start", "slurm", "run");
  for (const auto& entry : entries) {
    std::string slurm = entry.slurm_job;
    const auto state = slurm_state.find(entry.slurm_job);
    if (state != slurm_state.end()) slurm += " " + state->second;
    text += fmt::format("{:<5} {:<12} {:>4} {:<20} {:<14} {}\n", entry.job, entry.status,
                        entry.exit_code < 0 ? std::string("-") : std::to_string(entry.exit_code),
                        entry.start.empty() ? "-" : entry.start, slurm.empty() ? "-" : slurm,
                        entry.run_dir);
  }
  return text + summary(sweep_dir, /*retry_hint=*/false);
}

namespace {

volatile std::sig_atomic_t job_stop_requested = 0;
void request_job_stop(int) { job_stop_requested = 1; }

}  // namespace

int run_sweep_job(const std::filesystem::path& sweep_dir, std::int64_t index, int threads) {
  const auto config_file = sweep_config_file(sweep_dir);
  // One runner per job: a task started twice (requeue, a local launcher at the same time) leaves
  // the job to whoever holds it.
  const attnlab::FileLock lock = job_lock(sweep_dir, index);
  if (!lock.held()) {
    fmt::print("job {} is being run by another process; nothing to do\n", index);
    return 0;
  }
  auto entries = read_manifest(sweep_dir);
  if (run_finished(sweep_dir / entry_of(entries, index).run_dir)) {
    record_end(sweep_dir, index, "finished", 0);
    return 0;
  }
  const auto entry = record_start(sweep_dir, index);
  // Slurm ends a task (time limit, scancel) with SIGTERM: pass it on and record the job
  // interrupted, so a later submission resumes it.
  job_stop_requested = 0;
  struct sigaction action {};
  action.sa_handler = request_job_stop;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  const auto pid = spawn(attnlab_binary(), train_arguments(sweep_dir, config_file, entry, threads),
                         job_log(sweep_dir, entry));
  int status = 0;
  bool forwarded = false;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (job_stop_requested != 0 && !forwarded) {
      ::kill(pid, SIGTERM);
      forwarded = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const int code = exit_code_of(status);
  const bool complete = code == 0 && run_finished(sweep_dir / entry.run_dir);
  const std::string state = complete ? "finished" : (job_stop_requested != 0 ? "interrupted" : "failed");
  record_end(sweep_dir, index, state, code);
  fmt::print("job {} {}: {} (exit {}); log {}\n", index, entry.run_dir, state, code,
             job_log(sweep_dir, entry).string());
  return complete ? 0 : (code == 0 ? 1 : code);
}

}  // namespace attnlab::sweep
