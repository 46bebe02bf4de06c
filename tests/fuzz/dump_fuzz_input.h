// The dump fuzz targets' shared part: each input is written to a temporary file and opened with
// `Reader` (DumpReader in dump_fuzz.cpp, DumpFile in dump_file_fuzz.cpp); when it opens, every
// accessor is called within the bounds the reader reports: steps, layers, every statistic,
// allowed_keys, maps (the corners of each layer's [snapshot, sample, head] range), the probe
// arrays and probe_loss. Rejections must be DumpError; any other exception, a crash, a sanitizer
// report or a hang is a bug.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "dump/dump_reader.h"

namespace attnlab::dump::fuzz {

inline const std::filesystem::path& dump_path() {
  static const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("attnlab-dump-fuzz-" + std::to_string(getpid()) + ".h5");
  return path;
}

// A new file (new inode) each time: HDF5 recognises files it has open by device and inode.
inline void write_dump(const std::uint8_t* data, std::size_t size) {
  std::ofstream out(dump_path(), std::ios::binary);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) {
    std::perror("dump fuzz: writing the dump");
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

template <typename Reader>
void read_everything(const Reader& reader) {
  for (const char* name : {kAttributeConfig, kAttributeVariant, kAttributeMapDtype}) {
    attempt([&] { reader.string_attribute(name); });
  }
  attempt([&] { reader.int_attribute(kAttributeRecordEvery); });

  for (const char* probe : {kProbeIndices, kProbeTokens, kProbeTargets, kProbeSource}) {
    if (reader.has(probe)) attempt([&] { reader.probe(probe); });
  }
  attempt([&] { reader.probe_loss(); });

  const std::int64_t snapshots = reader.snapshots();
  for (std::int64_t layer = 0; layer < static_cast<std::int64_t>(reader.layers().size()); ++layer) {
    const std::string group = layer_group(layer);
    for (const auto& statistic : kStatistics) {
      if (reader.has(group + "/" + statistic.name)) {
        attempt([&] { reader.statistic(layer, statistic.name); });
      }
    }
    attempt([&] { reader.allowed_keys(layer); });
    if (!reader.has_maps()) attempt([&] { reader.map(layer, 0, 0, 0); });  // "recorded without"
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

// Opens one input with `Reader` and reads all of it; the file is removed afterwards (libFuzzer
// keeps an input that crashes anyway).
template <typename Reader>
void read_input(const std::uint8_t* data, std::size_t size) {
  write_dump(data, size);
  try {
    const Reader reader(dump_path());
    read_everything(reader);
  } catch (const DumpError&) {
  }
  std::error_code ignored;
  std::filesystem::remove(dump_path(), ignored);
}

}  // namespace attnlab::dump::fuzz

// LeakSanitizer's built-in suppressions: memory allocated inside libhdf5, which leaks some of its
// own allocations when it rejects a corrupt object header (HDF5 identifiers left open are counted
// by dump_file_fuzz.cpp instead).
extern "C" const char* __lsan_default_suppressions() { return "leak:libhdf5\n"; }

// HDF5 allocates sizes read from the file; a corrupt one asks for terabytes. Outside the fuzzer
// malloc returns null for those and HDF5 reports an error, so the fuzzer's allocator does too,
// instead of stopping the run.
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1"; }
