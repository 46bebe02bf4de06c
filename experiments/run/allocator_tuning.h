// Process-wide allocator settings for training and benchmarks.
#pragma once

namespace attnlab::run {

// Keeps freed tensor memory in the process for reuse. glibc's defaults return every block above
// its mmap threshold to the kernel on free, so each training step maps, faults in and zeroes the
// same activation buffers again: about a fifth of a small model's step went to page faults, and a
// 150-step mqar run took 1.5x as long (measured with perf and by setting the same values through
// MALLOC_*_ environment variables). The threshold cannot be raised above 32 MiB, which one
// [B, H, T, 64] float tensor passes at B H T = 131072, so mmap is switched off instead: at
// T = 16384 it had tripled linear attention's backward pass. Memory then stays at its peak, which
// is what peak-RSS figures report anyway. Call once at start-up, before LibTorch allocates.
void keep_freed_memory();

}  // namespace attnlab::run
