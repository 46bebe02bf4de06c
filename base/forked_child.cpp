#include "base/forked_child.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace attnlab {
namespace {

std::string system_error_text(const char* call) {
  return std::string(call) + ": " + std::strerror(errno);
}

void close_descriptor(int& descriptor) {
  if (descriptor >= 0) ::close(descriptor);
  descriptor = -1;
}

// In the child: the work's text and exit code (2 for bad input, 1 for another failure).
std::pair<std::string, int> outcome_of(const std::function<std::string()>& work) {
  try {
    return {work(), 0};
  } catch (const std::invalid_argument& error) {
    return {error.what(), 2};
  } catch (const std::exception& error) {
    return {error.what(), 1};
  }
}

}  // namespace

bool is_crash_signal(int signal) {
  return signal == SIGSEGV || signal == SIGBUS || signal == SIGABRT || signal == SIGFPE ||
         signal == SIGILL;
}

ChildExit child_exit(int status) {
  ChildExit exit;
  if (WIFEXITED(status)) exit.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) exit.signal = WTERMSIG(status);
  return exit;
}

pid_t fork_child(const std::function<int()>& child_main) {
  std::fflush(nullptr);
  const pid_t child = ::fork();
  if (child < 0) throw std::runtime_error(system_error_text("fork"));
  if (child == 0) {
    int code = 1;
    // An exception must not unwind into the parent's code, running on in the child.
    try {
      code = child_main();
    } catch (...) {
    }
    ::_exit(code);
  }
  return child;
}

ChildExit wait_child(pid_t child) {
  int status = 0;
  while (::waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error(system_error_text("waitpid"));
  }
  return child_exit(status);
}

void kill_child(pid_t child) noexcept {
  ::kill(child, SIGKILL);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
}

ChildFailure failure_of(const ChildExit& exit) {
  if (exit.signal != 0) {
    return ChildFailure(exit.crashed() ? ChildFailure::Kind::crashed
                                       : ChildFailure::Kind::interrupted,
                        strsignal(exit.signal));
  }
  return ChildFailure(ChildFailure::Kind::crashed, "exit code " + std::to_string(exit.code));
}

ChildFailure stop_hung_child(pid_t child, std::chrono::milliseconds limit) {
  kill_child(child);
  char seconds[32];
  std::snprintf(seconds, sizeof(seconds), "%g", static_cast<double>(limit.count()) / 1000.0);
  return ChildFailure(ChildFailure::Kind::hung,
                      std::string("did not reply within ") + seconds + " s");
}

Pipe::Pipe() {
  if (::pipe2(ends_, O_CLOEXEC) != 0) throw std::runtime_error(system_error_text("pipe"));
}

Pipe::~Pipe() {
  close_read();
  close_write();
}

void Pipe::close_read() { close_descriptor(ends_[0]); }
void Pipe::close_write() { close_descriptor(ends_[1]); }

bool write_all(int descriptor, std::string_view data) {
  while (!data.empty()) {
    const ssize_t written = ::write(descriptor, data.data(), data.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(written));
  }
  return true;
}

std::string read_to_end(int descriptor) {
  std::string text;
  char buffer[4096];
  for (ssize_t count; (count = ::read(descriptor, buffer, sizeof buffer)) != 0;) {
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) break;
    text.append(buffer, static_cast<std::size_t>(count));
  }
  return text;
}

pid_t start_program(const std::vector<std::string>& argv, const StandardStreams& streams,
                    const std::function<std::string(const std::string& reason)>&
                        exec_failure_message) {
  // Built before the fork: the child of a process with threads should only exec.
  std::vector<char*> pointers;
  for (const auto& argument : argv) pointers.push_back(const_cast<char*>(argument.c_str()));
  pointers.push_back(nullptr);
  return fork_child([&] {
    for (const auto& [from, to] : {std::pair{streams.input, STDIN_FILENO},
                                   std::pair{streams.output, STDOUT_FILENO},
                                   std::pair{streams.error, STDERR_FILENO}}) {
      if (from >= 0) ::dup2(from, to);
    }
    ::execvp(pointers[0], pointers.data());
    write_all(STDERR_FILENO, exec_failure_message(std::strerror(errno)));
    return 127;
  });
}

ChildResult run_in_child(const std::function<std::string()>& work) {
  Pipe pipe;
  const pid_t child = fork_child([&] {
    pipe.close_read();
    const auto [text, code] = outcome_of(work);
    write_all(pipe.write_end(), text);
    return code;
  });
  pipe.close_write();
  ChildResult result;
  result.output = read_to_end(pipe.read_end());
  const auto exit = wait_child(child);
  result.exit_code = exit.signal != 0 ? -exit.signal : exit.code;
  return result;
}

}  // namespace attnlab
