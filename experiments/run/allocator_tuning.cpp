#include "experiments/run/allocator_tuning.h"

#include <malloc.h>

namespace attnlab::run {

void keep_freed_memory() {
  // The main arena's allocations (the training loop and autograd run on the main thread) come
  // from the heap: with mmap on, glibc maps blocks above its threshold (32 MiB at most) on their
  // own and unmaps them on free.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, -1);  // -1: never trim
  mallopt(M_TOP_PAD, 256 << 20);  // the heap grows in 256 MiB steps
}

}  // namespace attnlab::run
