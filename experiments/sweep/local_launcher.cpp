#include "experiments/sweep/local_launcher.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <map>
#include <thread>

#include <fmt/core.h>

#include "base/atomic_file.h"
#include "experiments/run/system_info.h"
#include "base/file_lock.h"
#include "experiments/sweep/job_process.h"
#include "experiments/sweep/manifest.h"

namespace attnlab::sweep {
namespace {

volatile std::sig_atomic_t stop_signals = 0;  // how many SIGINT/SIGTERM arrived
void count_stop(int) { stop_signals = stop_signals + 1; }

// SIGINT and SIGTERM are counted while it lives; the previous handlers come back after.
// SA_RESTART: a signal does not make the launcher's own system calls fail.
class StopSignals {
 public:
  StopSignals() {
    stop_signals = 0;
    struct sigaction action {};
    action.sa_handler = count_stop;
    action.sa_flags = SA_RESTART;
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

struct Running {
  std::int64_t job = 0;
  std::string name;
  std::chrono::steady_clock::time_point start;
  attnlab::FileLock lock;  // the job's lock, held until the job's process is reaped
};

// Stops and reaps every running job (after an error in the launcher itself), recording them
// interrupted where the manifest can still be written.
void abandon(const std::filesystem::path& sweep_dir, std::map<pid_t, Running>& running) {
  for (const auto& [pid, job] : running) ::kill(pid, SIGTERM);
  for (auto& [pid, job] : running) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    try {
      record_end(sweep_dir, job.job, "interrupted", exit_code_of(status));
    } catch (const std::exception&) {
      // The launcher's own error is the one to report.
    }
  }
  running.clear();
}

}  // namespace

LocalOutcome run_local(const std::filesystem::path& sweep_dir,
                       const std::filesystem::path& config_file,
                       const std::vector<std::int64_t>& todo, int jobs) {
  const StopSignals signals;
  const int threads = std::max(1, run::available_cores() / std::max(1, jobs));
  const auto binary = attnlab_binary();
  LocalOutcome outcome;
  std::map<pid_t, Running> running;
  std::size_t next = 0;
  std::int64_t done = 0;
  const auto total = static_cast<std::int64_t>(todo.size());
  int signals_handled = 0;

  try {
    while ((!outcome.interrupted && next < todo.size()) || !running.empty()) {
      if (stop_signals > signals_handled) {
        // First Ctrl-C: ask the jobs to stop; a second one: kill them.
        signals_handled = stop_signals;
        const int signal = signals_handled == 1 ? SIGTERM : SIGKILL;
        for (const auto& [pid, job] : running) ::kill(pid, signal);
        outcome.interrupted = true;
        fmt::print("stopping: {} running job(s) sent {}{}\n", running.size(),
                   signal == SIGTERM ? "SIGTERM" : "SIGKILL",
                   signal == SIGTERM ? " (Ctrl-C again to kill them)" : "");
        std::fflush(stdout);
      }
      // Start jobs while there is room.
      while (!outcome.interrupted && next < todo.size() && static_cast<int>(running.size()) < jobs) {
        const auto job = todo[next++];
        auto entries = read_manifest(sweep_dir);
        auto entry = entry_of(entries, job);
        attnlab::FileLock lock = job_lock(sweep_dir, job);
        if (!lock.held() || run_finished(sweep_dir / entry.run_dir)) {
          ++done;
          fmt::print("[{}/{}] skipped     {} ({})\n", done, total, entry.run_dir,
                     lock.held() ? "finished" : "run by another process now");
          continue;
        }
        entry = record_start(sweep_dir, job);
        pid_t pid = -1;
        try {
          pid = spawn(binary, train_arguments(sweep_dir, config_file, entry, threads),
                      job_log(sweep_dir, entry));
        } catch (const attnlab::IoError& error) {
          // This job cannot start (its folder or log cannot be written): record it, go on.
          record_end(sweep_dir, job, "failed", -1);
          ++done;
          fmt::print("[{}/{}] failed      {}: {}\n", done, total, entry.run_dir, error.what());
          continue;
        }
        running.emplace(pid, Running{job, entry.run_dir, std::chrono::steady_clock::now(),
                                     std::move(lock)});
        outcome.ran.push_back(job);
        fmt::print("started  {} ({} threads)\n", entry.run_dir, threads);
        std::fflush(stdout);
      }
      // Reap our own jobs only (by pid: other children of this process are not ours to reap).
      bool reaped = false;
      for (auto it = running.begin(); it != running.end();) {
        int status = 0;
        if (::waitpid(it->first, &status, WNOHANG) != it->first) {
          ++it;
          continue;
        }
        reaped = true;
        const int code = exit_code_of(status);
        const bool complete = code == 0 && run_finished(sweep_dir / it->second.name);
        // A Ctrl-C in a terminal reaches the jobs too, maybe before this loop saw it.
        const bool stopping = outcome.interrupted || stop_signals > 0;
        const std::string state = complete ? "finished" : (stopping ? "interrupted" : "failed");
        record_end(sweep_dir, it->second.job, state, code);
        ++done;
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - it->second.start)
                .count();
        fmt::print("[{}/{}] {:<11} {} (exit {}, {:.0f} s)\n", done, total, state, it->second.name,
                   code, seconds);
        std::fflush(stdout);
        it = running.erase(it);
      }
      if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  } catch (...) {
    abandon(sweep_dir, running);
    throw;
  }
  return outcome;
}

}  // namespace attnlab::sweep
