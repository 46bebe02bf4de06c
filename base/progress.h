// Training progress: a one-line bar on a terminal (step, loss, tokens/s, ETA), plain periodic
// lines when stderr is not a terminal (logs, Slurm), or nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace attnlab {

class Progress {
 public:
  // mode: auto | bar | lines | none (runtime.progress)
  Progress(std::string mode, std::int64_t total_steps, std::int64_t first_step);
  // Called at logging steps with fresh numbers; cheap, never syncs anything itself.
  void update(std::int64_t step, double loss, double tokens_per_second);
  void message(const std::string& text);  // a line that does not break the bar
  void finish();

 private:
  bool bar_ = false;
  bool lines_ = false;
  std::int64_t total_;
  std::int64_t first_;
  std::chrono::steady_clock::time_point start_;
  bool drawn_ = false;
};

// A one-line counter for long passes ("heads 12/104") on a terminal, cleared when done; nothing
// (an empty function) when stderr is not a terminal, so logs stay clean.
std::function<void(std::int64_t done, std::int64_t total)> terminal_counter(const char* what);

}  // namespace attnlab
