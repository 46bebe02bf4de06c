// Process-wide allocator settings for training and benchmarks.
#pragma once

namespace attnlab::run {

// Keeps freed tensor memory in the process for reuse. glibc's defaults return every block above
// its mmap threshold (at most 32 MB) to the kernel on free, so each training step maps, faults in
// and zeroes the same activation buffers again: about a fifth of a small model's step went to
// page faults, and a 150-step mqar run took 1.5x as long (measured with perf and by setting the
// same values through MALLOC_*_ environment variables). Memory then stays at its peak, which is
// what peak-RSS figures report anyway. Call once at start-up, before LibTorch allocates.
void keep_freed_memory();

}  // namespace attnlab::run
