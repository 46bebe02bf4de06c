// The attnlab binary as a background process, for tests that interrupt it (SIGKILL, Ctrl-C) or
// starve it (a file size limit standing in for a full disk).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace attnlab::testing {

struct Background {
  std::filesystem::path directory = ".";  // working directory
  std::filesystem::path log;              // stdout and stderr (truncated)
  bool own_group = false;    // a process group of its own, like a shell job: kill(-pid) reaches
                             // it and everything it starts
  rlim_t file_size_limit = 0;  // > 0: RLIMIT_FSIZE with SIGXFSZ ignored, so writes beyond it
                               // fail with EFBIG the way they fail with ENOSPC on a full disk
};

inline pid_t start_attnlab(const std::vector<std::string>& arguments, const Background& how) {
  std::vector<std::string> argv_text = {ATTNLAB_BINARY};
  argv_text.insert(argv_text.end(), arguments.begin(), arguments.end());
  const pid_t child = ::fork();
  if (child < 0) throw std::runtime_error("fork failed");
  if (child > 0) {
    // Both sides set the group, so a kill(-child) right after the fork cannot miss it.
    if (how.own_group) ::setpgid(child, child);
    return child;
  }
  if (how.own_group) ::setpgid(0, 0);
  std::vector<char*> argv;
  for (auto& text : argv_text) argv.push_back(text.data());
  argv.push_back(nullptr);
  const int output = ::open(how.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (output < 0 || ::dup2(output, STDOUT_FILENO) < 0 || ::dup2(output, STDERR_FILENO) < 0 ||
      ::chdir(how.directory.c_str()) != 0) {
    ::_exit(126);
  }
  if (how.file_size_limit > 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{how.file_size_limit, how.file_size_limit};
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  ::execv(argv[0], argv.data());
  ::_exit(127);
}

// The exit code, or minus the signal that killed it.
inline int wait_exit_code(pid_t child) {
  int status = 0;
  while (::waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error("waitpid failed");
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

}  // namespace attnlab::testing
