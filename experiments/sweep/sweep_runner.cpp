#include "experiments/sweep/sweep_runner.h"

#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <map>
#include <sstream>
#include <thread>

#include <fmt/core.h>

#include "analysis/compare/comparison.h"
#include "experiments/config/config.h"
#include "experiments/run/atomic_file.h"
#include "experiments/run/schema.h"
#include "experiments/run/shell_command.h"
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
    if (entries.size() != jobs.size()) {
      throw run::IoError(sweep_dir.string() + "/" + kManifestFile + " lists " +
                         std::to_string(entries.size()) + " jobs, the sweep has " +
                         std::to_string(jobs.size()) + "; start a new sweep with --new");
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

}  // namespace

std::filesystem::path run_sweep(const SweepRequest& request) {
  if (request.launcher != "local" && request.launcher != "slurm") {
    throw config::ConfigError("--launcher " + request.launcher + ": expected local or slurm");
  }
  if (request.jobs < 1) throw config::ConfigError("--jobs must be at least 1");
  const auto spec = load_sweep(request.sweep_file, request.config_file, request.arguments);
  const auto jobs = sweep_jobs(spec);
  // Every job's config composes and validates before anything runs or is written.
  const auto base = run::load_config(spec.config_file, {});
  config::Config first;
  for (const auto& job : jobs) {
    try {
      const auto composed = run::load_config(spec.config_file, job.overrides);
      if (job.index == 0) first = composed;
    } catch (const config::ConfigError& error) {
      throw config::ConfigError(fmt::format("sweep job {} ({}): {}", job.index, job.name,
                                            error.what()));
    }
  }
  if (request.dry_run) {
    fmt::print("{} jobs over {}:\n", jobs.size(), spec.config_file.string());
    for (const auto& job : jobs) {
      std::string overrides;
      for (const auto& text : job.overrides) overrides += " " + text;
      fmt::print("  {}:{}\n", job.name, overrides);
    }
    return {};
  }

  const auto experiment_dir = std::filesystem::path(first.get_string("experiment.results_dir")) /
                              first.get_string("experiment.name");
  const auto hash = sweep_hash(spec, base.to_toml());
  const auto sweep_dir = std::filesystem::absolute(sweep_directory(experiment_dir, hash, request.fresh));
  if (!std::filesystem::exists(sweep_dir / kSweepFile)) {
    run::write_file_atomic(sweep_dir / kSweepFile, sweep_toml(spec, base.to_toml()));
  }
  prepare_manifest(sweep_dir, jobs);
  const auto todo = unfinished(read_manifest(sweep_dir), request.retry_failed);
  fmt::print("sweep {}: {} jobs, {} to run ({} launcher)\n", sweep_dir.string(), jobs.size(),
             todo.size(), request.launcher);
  std::fflush(stdout);

  if (request.launcher == "local") {
    const auto outcome = run_local(sweep_dir, spec.config_file, todo, request.jobs);
    fmt::print("{}", summary(sweep_dir, /*retry_hint=*/true));
    if (outcome.interrupted) {
      throw SweepInterrupted("sweep interrupted; run the same command again to continue");
    }
    compare_sweep(sweep_dir);
  } else {
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
      if (request.wait) {
        while (!queued_jobs({submission.array_job, submission.compare_job}).empty()) {
          std::this_thread::sleep_for(std::chrono::seconds(2));
        }
      }
    }
    if (request.wait || todo.empty()) fmt::print("{}", summary(sweep_dir, /*retry_hint=*/true));
  }
  for (const auto& entry : read_manifest(sweep_dir)) {
    if (entry.status == "failed" && (request.launcher == "local" || request.wait)) {
      throw SweepFailed("some jobs of sweep " + sweep_dir.string() + " failed");
    }
  }
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
    const auto result = run::capture({"squeue", "-h", "-r", "-o", "%i %T", "-j", list});
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

int run_sweep_job(const std::filesystem::path& sweep_dir, std::int64_t index, int threads) {
  const auto config_file = sweep_config_file(sweep_dir);
  ManifestEntry entry;
  bool already = false;
  update_manifest(sweep_dir, [&](std::vector<ManifestEntry>& entries) {
    auto& target = entry_of(entries, index);
    if (run_finished(sweep_dir / target.run_dir)) {
      target.status = "finished";
      already = true;
    } else {
      target.status = "running";
      target.start = utc_now();
      target.end.clear();
      target.host = host_name();
      ++target.attempts;
    }
    entry = target;
  });
  if (already) return 0;
  const auto pid = spawn(attnlab_binary(), train_arguments(sweep_dir, config_file, entry, threads),
                         job_log(sweep_dir, entry));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const int code = exit_code_of(status);
  const bool complete = code == 0 && run_finished(sweep_dir / entry.run_dir);
  update_manifest(sweep_dir, [&](std::vector<ManifestEntry>& entries) {
    auto& target = entry_of(entries, index);
    target.status = complete ? "finished" : "failed";
    target.exit_code = code;
    target.end = utc_now();
  });
  fmt::print("job {} {}: exit {}; log {}\n", index, entry.run_dir, code,
             job_log(sweep_dir, entry).string());
  return complete ? 0 : (code == 0 ? 1 : code);
}

}  // namespace attnlab::sweep
