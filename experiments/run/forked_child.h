// Runs a measurement in a forked child process and returns what it reported. Benchmarks measure
// each configuration in a fresh process so that the allocations, thread pools and peak resident
// set of one configuration never flatter or burden the next. The parent should not have started
// LibTorch's thread pools, so the child starts them cleanly.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace attnlab::run {

struct ChildResult {
  int exit_code = 0;   // 0 ok, 2 bad input (std::invalid_argument), 1 failure; -signal when killed
  std::string output;  // what work() returned, or the exception's message
};

// work() returns the text to hand back (e.g. JSON); it runs in the child only.
template <typename Work>
ChildResult run_in_child(Work&& work) {
  int pipe_ends[2];
  if (::pipe(pipe_ends) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  const pid_t child = ::fork();
  if (child < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (child == 0) {
    ::close(pipe_ends[0]);
    std::string text;
    int code = 0;
    try {
      text = work();
    } catch (const std::invalid_argument& error) {
      text = error.what();
      code = 2;
    } catch (const std::exception& error) {
      text = error.what();
      code = 1;
    }
    for (std::size_t written = 0; written < text.size();) {
      const auto count = ::write(pipe_ends[1], text.data() + written, text.size() - written);
      if (count <= 0) break;
      written += static_cast<std::size_t>(count);
    }
    ::close(pipe_ends[1]);
    ::_exit(code);  // no static destructors or atexit handlers of the parent's state
  }
  ::close(pipe_ends[1]);
  ChildResult result;
  char buffer[4096];
  for (ssize_t count; (count = ::read(pipe_ends[0], buffer, sizeof buffer)) != 0;) {
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) break;
    result.output.append(buffer, static_cast<std::size_t>(count));
  }
  ::close(pipe_ends[0]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  return result;
}

}  // namespace attnlab::run
