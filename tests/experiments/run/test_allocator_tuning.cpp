// The allocator policy that training and `bench attention` run under: freed blocks of every size
// stay in the process, so a step does not fault its largest tensors in anew.
#include <malloc.h>

#include <cstdlib>
#include <cstring>

#include <catch2/catch.hpp>

#include "experiments/run/allocator_tuning.h"

namespace {

// Above the largest mmap threshold glibc accepts (32 MiB): without the policy, mmap serves it.
constexpr std::size_t kLargeBlock = std::size_t{64} << 20;

void* touched_block() {
  void* block = std::malloc(kLargeBlock);
  REQUIRE(block != nullptr);
  std::memset(block, 1, kLargeBlock);
  return block;
}

}  // namespace

TEST_CASE("after keep_freed_memory, a block above 32 MiB comes from the heap and is reused",
          "[allocator]") {
#if defined(__SANITIZE_ADDRESS__)
  WARN("not checked: AddressSanitizer replaces glibc's allocator");
  return;
#endif
  attnlab::run::keep_freed_memory();
  const auto before = mallinfo2();
  void* first = touched_block();
  const auto holding = mallinfo2();
  CHECK(holding.hblkhd == before.hblkhd);                       // no mmap'd block
  CHECK(holding.uordblks >= before.uordblks + kLargeBlock);     // but a heap one
  std::free(first);
  const auto freed = mallinfo2();
  CHECK(freed.arena == holding.arena);  // nothing trimmed back to the kernel
  void* second = touched_block();
  const auto again = mallinfo2();
  CHECK(again.hblkhd == before.hblkhd);
  CHECK(again.arena == holding.arena);  // the freed memory served it
  std::free(second);
}
