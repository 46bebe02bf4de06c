// Fuzzes the attention-dump reader that analysis commands use (dump/dump_reader.h): a
// DumpFile served from a child process, so that what libhdf5 does on a damaged file (crash, loop,
// memory error) ends that child and reaches attnlab as a DumpError. Zero findings expected: a
// crash, sanitizer report or hang here is a crash of `attnlab analyze`. What is read is listed in
// dump_fuzz_input.h. Coverage comes from this process only (the reader's side of the channel);
// dump_file_fuzz.cpp fuzzes the reading code itself, in process.
#include <pthread.h>
#include <sanitizer/common_interface_defs.h>

#include "tests/fuzz/dump_fuzz_input.h"

namespace {

// The reader's child is a fork of this process, libFuzzer included: a memory error libhdf5 makes
// there would run libFuzzer's death callback in the child, which saves the input as a crash of
// this target. In the child it is only the end of the child (what DumpReader turns into "the
// file is damaged"), so the child drops the callback. Its signal handlers are reset by
// ChildProcess itself.
void forget_fuzzer_in_child() { __sanitizer_set_death_callback(nullptr); }

[[maybe_unused]] const bool registered = [] {
  pthread_atfork(nullptr, nullptr, forget_fuzzer_in_child);
  return true;
}();

}  // namespace

// The child's reads are bounded by ATTNLAB_DUMP_READ_SECONDS (scripts/fuzz.sh sets 1 s, below
// libFuzzer's -timeout), so that a file libhdf5 loops on is a rejection, not a reported timeout.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  attnlab::dump::fuzz::read_input<attnlab::dump::DumpReader>(data, size);
  return 0;
}
