#include "experiments/run/allocator_tuning.h"

#include <malloc.h>

namespace attnlab::run {

void keep_freed_memory() {
  // Allocations up to 1 GiB come from the heap (setting the threshold also turns off glibc's
  // dynamic threshold); the heap grows in 256 MiB steps and is never trimmed.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, -1);  // -1: never trim
  mallopt(M_TOP_PAD, 256 << 20);
}

}  // namespace attnlab::run
