#include "experiments/run/allocator_tuning.h"

#include <malloc.h>

namespace attnlab::run {

void keep_freed_memory() {
  // Allocations up to 32 MiB (the most glibc accepts) come from the heap, from the first step on
  // rather than once glibc's dynamic threshold has caught up; the heap grows in 256 MiB steps
  // and is never trimmed.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, -1);  // -1: never trim
  mallopt(M_TOP_PAD, 256 << 20);
}

}  // namespace attnlab::run
