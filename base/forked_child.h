// Child processes: forking one, feeding or reading it through a pipe, waiting for it, and telling
// how it ended (a crash, a stop from outside, a hang). The benchmarks measure each configuration
// in a fresh child (run_in_child); the dump reader keeps libhdf5 in a long-lived child that
// answers requests (dump/child_process.h); sweeps and the report start programs (start_program).
// No LibTorch: the dump format and analysis/ use it too.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace attnlab {

// Signals that mean a process crashed (SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL), as opposed to
// being stopped from outside (Ctrl-C, kill, the OOM killer).
bool is_crash_signal(int signal);

// How a child ended, from its waitpid status.
struct ChildExit {
  int code = -1;   // its exit code; -1 when a signal ended it
  int signal = 0;  // the signal that ended it; 0 when it exited
  bool crashed() const { return is_crash_signal(signal); }
  int shell_code() const { return signal != 0 ? 128 + signal : code; }  // as a shell reports it
};
ChildExit child_exit(int status);

// The exit code of a waitpid status: the code, or 128 + signal for a killed process.
inline int exit_code_of(int status) { return child_exit(status).shell_code(); }

// Flushes stdio (what this process printed comes first, and the child never writes it again) and
// forks. The child runs child_main() and _exit()s with what it returns, so it runs none of the
// parent's static destructors or atexit handlers. Throws std::runtime_error "fork: <reason>".
pid_t fork_child(const std::function<int()>& child_main);

// Waits for the child, through interruptions by signals. Throws std::runtime_error
// "waitpid: <reason>" when it cannot be waited for.
ChildExit wait_child(pid_t child);

// Kills the child (SIGKILL) and reaps it.
void kill_child(pid_t child) noexcept;

// Why a child that should have answered did not: it crashed (a crash signal, or an exit, which a
// sanitizer's report ends with), did not answer in time, or was stopped from outside (which says
// nothing about what it was given).
struct ChildFailure : std::runtime_error {
  enum class Kind { crashed, hung, interrupted };
  ChildFailure(Kind kind, const std::string& what) : std::runtime_error(what), kind(kind) {}
  Kind kind;
};
// The failure of a child that ended: crashed ("exit code N" or the crash signal's name) or
// interrupted (the signal's name).
ChildFailure failure_of(const ChildExit& exit);
// Kills and reaps a child that did not answer within `limit`: hung, "did not reply within N s".
ChildFailure stop_hung_child(pid_t child, std::chrono::milliseconds limit);

// A pipe whose ends close with it, or earlier one by one. Both are close-on-exec: a started
// program keeps only what start_program makes its standard streams.
class Pipe {
 public:
  Pipe();  // throws std::runtime_error "pipe: <reason>"
  ~Pipe();
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;

  int read_end() const { return ends_[0]; }
  int write_end() const { return ends_[1]; }
  void close_read();
  void close_write();

 private:
  int ends_[2] = {-1, -1};
};

// Writes all of `data` (through interruptions); false when the reader is gone or another error
// stops it.
bool write_all(int descriptor, std::string_view data);
// Reads until the writer closes its end (or an error other than an interruption).
std::string read_to_end(int descriptor);

// Descriptors that become a started program's standard streams; -1 keeps this process's.
struct StandardStreams {
  int input = -1;
  int output = -1;
  int error = -1;
};

// Starts `argv` (argv[0] looked up on PATH when it holds no slash) in a forked child with
// `streams`. When it cannot be run, the child writes exec_failure_message(<reason>) to its
// standard error and exits with 127, as a shell does. Throws std::runtime_error "fork: <reason>".
pid_t start_program(const std::vector<std::string>& argv, const StandardStreams& streams,
                    const std::function<std::string(const std::string& reason)>&
                        exec_failure_message);

struct ChildResult {
  int exit_code = 0;   // 0 ok, 2 bad input (std::invalid_argument), 1 failure; -signal when killed
  std::string output;  // what work() returned, or the exception's message
};

// Runs work() in a forked child and returns what it handed back (e.g. JSON): a measurement in a
// fresh process, so that the allocations, thread pools and peak resident set of one never flatter
// or burden the next. The parent should not have started LibTorch's thread pools, so the child
// starts them cleanly.
ChildResult run_in_child(const std::function<std::string()>& work);

}  // namespace attnlab
