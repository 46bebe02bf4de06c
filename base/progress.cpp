#include "base/progress.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/core.h>

namespace attnlab {
namespace {

std::string format_duration(double seconds) {
  const auto total = static_cast<long>(seconds + 0.5);
  if (total >= 3600) return fmt::format("{}h{:02}m", total / 3600, (total % 3600) / 60);
  return fmt::format("{}:{:02}", total / 60, total % 60);
}

}  // namespace

Progress::Progress(std::string mode, std::int64_t total_steps, std::int64_t first_step)
    : total_(total_steps), first_(first_step), start_(std::chrono::steady_clock::now()) {
  const bool terminal = ::isatty(STDERR_FILENO) != 0;
  bar_ = mode == "bar" || (mode == "auto" && terminal);
  lines_ = mode == "lines" || (mode == "auto" && !terminal);
}

void Progress::update(std::int64_t step, double loss, double tokens_per_second) {
  if (!bar_ && !lines_) return;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double done = static_cast<double>(step - first_);
  const double eta = done > 0 ? elapsed / done * static_cast<double>(total_ - step) : 0.0;
  const double fraction = static_cast<double>(step) / static_cast<double>(total_);
  if (bar_) {
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(fraction * kWidth);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(kWidth, '.');
    fmt::print(stderr, "\r[{}] {:>3.0f}% step {}/{}  loss {:.4f}  {:.0f} tok/s  ETA {}   ", bar,
               fraction * 100, step, total_, loss, tokens_per_second, format_duration(eta));
    std::fflush(stderr);
    drawn_ = true;
  } else {
    fmt::print(stderr, "step {}/{} loss {:.4f} {:.0f} tok/s elapsed {} ETA {}\n", step, total_,
               loss, tokens_per_second, format_duration(elapsed), format_duration(eta));
  }
}

void Progress::message(const std::string& text) {
  if (!bar_ && !lines_) return;
  if (drawn_) fmt::print(stderr, "\r\033[K");
  fmt::print(stderr, "{}\n", text);
  drawn_ = false;
}

void Progress::finish() {
  if (drawn_) fmt::print(stderr, "\n");
  drawn_ = false;
}

std::function<void(std::int64_t, std::int64_t)> terminal_counter(const char* what) {
  if (::isatty(STDERR_FILENO) == 0) return {};
  return [what](std::int64_t done, std::int64_t total) {
    std::fprintf(stderr, "\r%s %lld/%lld", what, static_cast<long long>(done),
                 static_cast<long long>(total));
    if (done == total) std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  };
}

}  // namespace attnlab
