// Fuzzes the attention-dump reader (analysis/dump/dump_reader.cpp, HDF5's C API). The input is
// written to a temporary file and opened with DumpReader; when it opens, every accessor is called
// within the bounds the reader reports: steps, layers, every statistic, allowed_keys, maps (the
// corners of each layer's [snapshot, sample, head] range), the probe arrays and probe_loss.
// Rejections must be DumpError; any other exception, a crash, a sanitizer report or an HDF5
// identifier left open once the reader is gone is a bug.
//
// HDF5 itself is Debian's uninstrumented build: coverage guides the fuzzer through attnlab's code
// only, and libhdf5's own memory errors show up where they pass through the sanitizer's malloc
// and memcpy, or crash (tests/fuzz/README.md lists those found). HDF5 1.10 leaks some of its own
// allocations when it rejects a corrupt object header; such leaks are suppressed below, while
// identifiers the reader leaves open are caught by counting them after each input.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "analysis/dump/dump_reader.h"

namespace {

namespace fs = std::filesystem;
using attnlab::dump::DumpError;
using attnlab::dump::DumpReader;

const fs::path& dump_path() {
  static const fs::path path =
      fs::temp_directory_path() / ("attnlab-dump-fuzz-" + std::to_string(getpid()) + ".h5");
  return path;
}

// A new file (new inode) each time: HDF5 recognises files it has open by device and inode.
void write_dump(const std::uint8_t* data, std::size_t size) {
  std::ofstream out(dump_path(), std::ios::binary);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) {
    std::perror("dump_fuzz: writing the dump");
    std::abort();
  }
}

// One accessor: a DumpError is a clean rejection of this part of the file; the rest is still read.
template <typename Read>
void attempt(Read&& read) {
  try {
    read();
  } catch (const DumpError&) {
  }
}

void read_everything(const DumpReader& reader) {
  for (const char* name : {attnlab::dump::kAttributeConfig, attnlab::dump::kAttributeVariant,
                           attnlab::dump::kAttributeMapDtype}) {
    attempt([&] { reader.string_attribute(name); });
  }
  attempt([&] { reader.int_attribute(attnlab::dump::kAttributeRecordEvery); });

  for (const char* probe : {attnlab::dump::kProbeIndices, attnlab::dump::kProbeTokens,
                            attnlab::dump::kProbeTargets, attnlab::dump::kProbeSource}) {
    if (reader.has(probe)) attempt([&] { reader.probe(probe); });
  }
  attempt([&] { reader.probe_loss(); });

  const std::int64_t snapshots = reader.snapshots();
  for (std::int64_t layer = 0; layer < static_cast<std::int64_t>(reader.layers().size()); ++layer) {
    const std::string group = attnlab::dump::layer_group(layer);
    for (const auto& statistic : attnlab::dump::kStatistics) {
      if (reader.has(group + "/" + statistic.name)) {
        attempt([&] { reader.statistic(layer, statistic.name); });
      }
    }
    attempt([&] { reader.allowed_keys(layer); });
    if (!reader.has_maps() || snapshots == 0 || reader.samples() < 1) continue;
    const std::int64_t heads = reader.layers()[static_cast<std::size_t>(layer)].heads;
    for (std::int64_t snapshot : {std::int64_t{0}, snapshots - 1}) {
      for (std::int64_t sample : {std::int64_t{0}, reader.samples() - 1}) {
        for (std::int64_t head : {std::int64_t{0}, heads - 1}) {
          attempt([&] { reader.map(layer, snapshot, sample, head); });
        }
      }
    }
  }
}

}  // namespace

// LeakSanitizer's built-in suppressions: memory allocated inside libhdf5 (see above).
extern "C" const char* __lsan_default_suppressions() { return "leak:libhdf5\n"; }

// HDF5 allocates sizes read from the file; a corrupt one asks for terabytes. Outside the fuzzer
// malloc returns null for those and HDF5 reports an error, so the fuzzer's allocator does too,
// instead of stopping the run.
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1"; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  write_dump(data, size);
  try {
    const DumpReader reader(dump_path());
    read_everything(reader);
  } catch (const DumpError&) {
  }
  // Every identifier the reader opened must be closed again, on success and on every error path.
  const ssize_t open_objects = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
  if (open_objects != 0) {
    std::fprintf(stderr, "dump_fuzz: %zd HDF5 objects still open after the reader is gone\n",
                 open_objects);
    std::abort();
  }
  // Only an input that crashes leaves its file behind (libFuzzer saves it anyway).
  std::error_code ignored;
  fs::remove(dump_path(), ignored);
  return 0;
}
