#include "experiments/bench/call_cost.h"

#include <time.h>

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/sample_statistics.h"

namespace attnlab::bench {
namespace {

double status_mb(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;
  }
  throw std::runtime_error("/proc/self/status has no " + field);
}

double process_cpu_ms() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

}  // namespace

CallTime median_call_time(int repeats, const std::function<void()>& call) {
  std::vector<double> walls, cpus;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = process_cpu_ms();
    call();
    cpus.push_back(process_cpu_ms() - cpu_start);
    walls.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                              start).count());
  }
  return {attnlab::median(walls), attnlab::median(cpus)};
}

double peak_resident_growth_mb(const std::function<void()>& call) {
  std::ofstream("/proc/self/clear_refs") << "5";  // VmHWM := VmRSS
  const double before = status_mb("VmRSS");
  call();
  return status_mb("VmHWM") - before;
}

}  // namespace attnlab::bench
