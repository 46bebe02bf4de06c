// Fuzzes the in-process dump reading code (dump/dump_file.cpp, HDF5's C API), coverage-
// guided through attnlab's code, for attnlab's own bugs: unchecked sizes, identifiers left open,
// errors of the wrong type. What is read is listed in dump_fuzz_input.h.
//
// HDF5 itself is Debian's uninstrumented build: libhdf5's own memory errors show up where they
// pass through the sanitizer's malloc and memcpy, or crash (tests/fuzz/README.md lists those
// found); they are why analysis reads dumps through DumpReader, whose target (dump_fuzz.cpp) must
// not find any. Here they are findings to sort by their innermost frame. Leaks inside libhdf5 are
// suppressed (dump_fuzz_input.h); identifiers the reader leaves open are caught by counting them
// after each input.
#include "tests/fuzz/dump_fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  attnlab::dump::fuzz::read_input<attnlab::dump::DumpFile>(data, size);
  // Every identifier the reader opened must be closed again, on success and on every error path.
  const ssize_t open_objects = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
  if (open_objects != 0) {
    std::fprintf(stderr, "dump_file_fuzz: %zd HDF5 objects still open after the reader is gone\n",
                 open_objects);
    std::abort();
  }
  return 0;
}
