#include "experiments/sweep/job_process.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>

#include <toml++/toml.h>

#include "experiments/config/config.h"
#include "base/atomic_file.h"

namespace attnlab::sweep {

std::filesystem::path attnlab_binary() { return std::filesystem::read_symlink("/proc/self/exe"); }

bool run_finished(const std::filesystem::path& run_dir) {
  return std::filesystem::exists(run_dir / "summary.json");
}

attnlab::FileLock job_lock(const std::filesystem::path& sweep_dir, std::int64_t job) {
  return attnlab::FileLock(sweep_dir / "locks" / (std::to_string(job) + ".lock"), /*wait=*/false);
}

std::filesystem::path job_log(const std::filesystem::path& sweep_dir, const ManifestEntry& entry) {
  return sweep_dir / "logs" / (entry.run_dir + ".log");
}

std::vector<std::string> train_arguments(const std::filesystem::path& sweep_dir,
                                         const std::filesystem::path& config_file,
                                         const ManifestEntry& entry, int threads) {
  const std::filesystem::path name(entry.run_dir);
  if (name.empty() || name.has_parent_path() || name == "." || name == "..") {
    throw attnlab::IoError("sweep manifest: run folder '" + entry.run_dir + "' is not a plain name");
  }
  const auto run_dir = sweep_dir / name;
  if (run_finished(run_dir)) throw attnlab::IoError(run_dir.string() + " has already finished");
  const std::vector<std::string> runtime = {"runtime.threads=" + std::to_string(threads),
                                            "runtime.progress=lines"};
  // A checkpoint the trainer can resume from: a committed step-*.pt (temporaries do not count).
  std::error_code error;
  bool has_checkpoint = false;
  if (std::filesystem::is_directory(run_dir / "checkpoints", error)) {
    for (const auto& file : std::filesystem::directory_iterator(run_dir / "checkpoints", error)) {
      const auto file_name = file.path().filename().string();
      if (file_name.rfind("step-", 0) == 0 && file.path().extension() == ".pt") has_checkpoint = true;
    }
  }
  if (has_checkpoint) {
    std::vector<std::string> arguments = {"train", "--resume", run_dir.string()};
    arguments.insert(arguments.end(), runtime.begin(), runtime.end());
    return arguments;
  }
  std::filesystem::remove_all(run_dir, error);
  if (error) throw attnlab::IoError("cannot clear " + run_dir.string() + ": " + error.message());
  std::vector<std::string> arguments = {"train", "--config", config_file.string(), "--run-dir",
                                        run_dir.string()};
  // The launcher's runtime settings first: a job's own runtime.* override wins.
  arguments.insert(arguments.end(), runtime.begin(), runtime.end());
  arguments.insert(arguments.end(), entry.overrides.begin(), entry.overrides.end());
  return arguments;
}

pid_t spawn(const std::filesystem::path& binary, const std::vector<std::string>& arguments,
            const std::filesystem::path& log) {
  std::error_code error;
  std::filesystem::create_directories(log.parent_path(), error);
  const int output = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (output < 0) throw attnlab::IoError("cannot open " + log.string() + ": " + std::strerror(errno));
  const int no_input = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // -1: the launcher's stdin
  std::vector<std::string> argv = {binary.string()};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  pid_t child = -1;
  std::string failure;
  try {
    child = attnlab::start_program(argv, {no_input, output, output},
                                   [&](const std::string& reason) {
                                     return "cannot run " + argv.front() + ": " + reason + "\n";
                                   });
  } catch (const std::runtime_error& fork_error) {
    failure = fork_error.what();
  }
  ::close(output);
  if (no_input >= 0) ::close(no_input);
  if (child < 0) throw attnlab::IoError("cannot start a job: " + failure);
  return child;
}

std::string log_tail(const std::filesystem::path& log, int lines) {
  std::ifstream in(log);
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(line);
    if (static_cast<int>(last.size()) > lines) last.pop_front();
  }
  std::string text;
  for (const auto& kept : last) text += "    " + kept + "\n";
  return text;
}

std::filesystem::path sweep_config_file(const std::filesystem::path& sweep_dir) {
  const auto path = sweep_dir / kSweepFile;
  try {
    const auto table = toml::parse_file(path.string());
    if (const auto config = table["config"].value<std::string>()) return *config;
  } catch (const toml::parse_error& error) {
    throw config::ConfigError(path.string() + ": " + std::string(error.description()));
  }
  throw config::ConfigError(path.string() + ": no config (is this a sweep folder?)");
}

}  // namespace attnlab::sweep
