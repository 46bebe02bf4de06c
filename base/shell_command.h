// Running a command through the shell and capturing what it prints: used to call Slurm's tools
// (sbatch, squeue) and, by the tests, the attnlab binary. Header-only, so test programs that link
// no attnlab library can use it too.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

namespace attnlab {

struct CommandOutput {
  int exit_code = -1;  // -1 when the command could not run or was killed
  std::string output;  // stdout and stderr together
};

// 'text' for /bin/sh, with embedded quotes escaped.
inline std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// Runs `command` (already quoted) with /bin/sh, stderr into stdout.
inline CommandOutput capture_shell(const std::string& command) {
  CommandOutput result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  std::size_t read = 0;
  while ((read = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    result.output.append(buffer.data(), read);
  }
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// The arguments quoted and joined, then run.
inline CommandOutput capture(const std::vector<std::string>& arguments) {
  std::string command;
  for (const auto& argument : arguments) {
    command += (command.empty() ? "" : " ") + shell_quote(argument);
  }
  return capture_shell(command);
}

}  // namespace attnlab
