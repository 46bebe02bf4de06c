#include "experiments/sweep/local_launcher.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <map>
#include <thread>

#include <fmt/core.h>

#include "experiments/config/config.h"
#include "experiments/run/atomic_file.h"
#include "experiments/run/system_info.h"
#include "experiments/sweep/job_process.h"
#include "experiments/sweep/manifest.h"

namespace attnlab::sweep {
namespace {

volatile std::sig_atomic_t stop_requested = 0;
void request_stop(int) { stop_requested = 1; }

// SIGINT and SIGTERM set the stop flag while it lives; the previous handlers come back after.
class StopSignals {
 public:
  StopSignals() {
    stop_requested = 0;
    struct sigaction action {};
    action.sa_handler = request_stop;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_int_);
    sigaction(SIGTERM, &action, &previous_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &previous_int_, nullptr);
    sigaction(SIGTERM, &previous_term_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction previous_int_ {}, previous_term_ {};
};

// An exclusive, non-blocking flock on <sweep>/sweep.lock for the launcher's lifetime.
class SweepLock {
 public:
  explicit SweepLock(const std::filesystem::path& sweep_dir) {
    const auto path = sweep_dir / "sweep.lock";
    descriptor_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (descriptor_ < 0) throw run::IoError("cannot open " + path.string());
    if (::flock(descriptor_, LOCK_EX | LOCK_NB) != 0) {
      ::close(descriptor_);
      throw config::ConfigError("sweep " + sweep_dir.string() +
                                " is being run by another launcher (" + path.string() +
                                " is locked); wait for it or stop it first");
    }
  }
  ~SweepLock() { ::close(descriptor_); }
  SweepLock(const SweepLock&) = delete;
  SweepLock& operator=(const SweepLock&) = delete;

 private:
  int descriptor_ = -1;
};

struct Running {
  std::int64_t job = 0;
  std::string name;
  std::chrono::steady_clock::time_point start;
};

}  // namespace

LocalOutcome run_local(const std::filesystem::path& sweep_dir,
                       const std::filesystem::path& config_file,
                       const std::vector<std::int64_t>& todo, int jobs) {
  const SweepLock lock(sweep_dir);
  const StopSignals signals;
  const int threads = std::max(1, run::available_cores() / std::max(1, jobs));
  const auto binary = attnlab_binary();
  LocalOutcome outcome;
  std::map<pid_t, Running> running;
  std::size_t next = 0;
  std::int64_t done = 0;
  const auto total = static_cast<std::int64_t>(todo.size());
  bool terminated = false;

  while (next < todo.size() || !running.empty()) {
    if (stop_requested != 0 && !terminated) {
      for (const auto& [pid, job] : running) ::kill(pid, SIGTERM);
      terminated = true;
      outcome.interrupted = true;
      fmt::print("stopping: {} running job(s) asked to stop\n", running.size());
      std::fflush(stdout);
    }
    // Start jobs while there is room.
    while (!terminated && next < todo.size() && static_cast<int>(running.size()) < jobs) {
      const auto job = todo[next++];
      ManifestEntry entry;
      update_manifest(sweep_dir, [&](std::vector<ManifestEntry>& entries) {
        auto& target = entry_of(entries, job);
        target.status = "running";
        target.start = utc_now();
        target.end.clear();
        target.exit_code = -1;
        target.host = host_name();
        ++target.attempts;
        entry = target;
      });
      pid_t pid = -1;
      try {
        pid = spawn(binary, train_arguments(sweep_dir, config_file, entry, threads),
                    job_log(sweep_dir, entry));
      } catch (const run::IoError& error) {
        // This job cannot start (its folder or log cannot be written): record it, go on.
        update_manifest(sweep_dir, [&](std::vector<ManifestEntry>& entries) {
          auto& target = entry_of(entries, job);
          target.status = "failed";
          target.end = utc_now();
        });
        fmt::print("failed   {}: {}\n", entry.run_dir, error.what());
        continue;
      }
      running[pid] = {job, entry.run_dir, std::chrono::steady_clock::now()};
      outcome.ran.push_back(job);
      fmt::print("started  {} ({} threads)\n", entry.run_dir, threads);
      std::fflush(stdout);
    }
    int status = 0;
    const pid_t finished = ::waitpid(-1, &status, WNOHANG);
    if (finished <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    const auto found = running.find(finished);
    if (found == running.end()) continue;
    const auto job = found->second;
    running.erase(found);
    const int code = exit_code_of(status);
    const bool complete = code == 0 && run_finished(sweep_dir / job.name);
    // A Ctrl-C in a terminal reaches the jobs too, maybe before this loop saw the flag.
    const bool stopping = terminated || stop_requested != 0;
    const std::string state = complete ? "finished" : (stopping ? "interrupted" : "failed");
    update_manifest(sweep_dir, [&](std::vector<ManifestEntry>& entries) {
      auto& target = entry_of(entries, job.job);
      target.status = state;
      target.exit_code = code;
      target.end = utc_now();
    });
    ++done;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - job.start).count();
    fmt::print("[{}/{}] {:<11} {} (exit {}, {:.0f} s)\n", done, total, state, job.name, code,
               seconds);
    std::fflush(stdout);
  }
  return outcome;
}

}  // namespace attnlab::sweep
