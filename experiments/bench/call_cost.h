// What one call costs the process running it: its median wall-clock and CPU time over repeated
// runs, and how far it raises the peak resident set. Meant for a fresh child process (see
// base/forked_child.h), whose peak is the measured call's own.
#pragma once

#include <functional>

namespace attnlab::bench {

struct CallTime {
  double wall_ms = 0.0;  // median wall-clock time
  double cpu_ms = 0.0;   // median CPU time of the whole process (all threads)
};

// Runs call() `repeats` times. On a shared machine the CPU time is the steadier of the two.
CallTime median_call_time(int repeats, const std::function<void()>& call);

// Growth (MB) of the peak resident set (VmHWM in /proc/self/status) over the resident set just
// before call(), with the peak reset first by writing 5 to /proc/self/clear_refs.
double peak_resident_growth_mb(const std::function<void()>& call);

}  // namespace attnlab::bench
