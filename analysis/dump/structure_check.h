// A damaged HDF5 file should be an error, not a crash. Debian's libhdf5 1.10.8 crashes, or loops
// forever, on some corrupt object headers, attributes and global heaps (inputs the fuzzer found
// are in tests/fuzz/hdf5_crashes/); nothing a caller of the library can do prevents that. So
// before a file is read in this process, a forked child walks its structure with the plain HDF5
// API (every object's header and attributes, and every dataset small enough to be read whole) and
// the parent turns a child that crashed or did not finish in time into a DumpError naming the
// file. It catches what that walk meets, not everything: a crash on another path (a map chunk,
// the same reads in another order) still happens in the reader. The walk does not call
// attnlab's reader, so the fuzzer still sees that code's own faults.
#pragma once

#include <chrono>
#include <filesystem>

namespace attnlab::dump {

// Throws DumpError when the walk crashes or does not end within the limit: 30 s, or
// ATTNLAB_HDF5_CHECK_SECONDS (the fuzz runs set it short). An error HDF5 reports cleanly is left
// to the reader, which names the dataset involved. Costs a fork and a walk of the file's metadata
// (milliseconds for a dump).
void check_hdf5_structure(const std::filesystem::path& path);

}  // namespace attnlab::dump
