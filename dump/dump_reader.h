// Reads an attention dump (attention.h5, layout in dump_schema.h) for analysis: the same accessors
// as DumpFile (dump_file.h), served by a DumpFile in a child process (child_process.h).
//
// libhdf5 1.10 crashes (heap overflows, segmentation faults) or loops on some damaged files, and
// a crash inside a library cannot be caught in the process it happens in. Here it ends the child
// only: the call throws DumpError ("the file is damaged: the HDF5 library crashed reading it
// (Segmentation fault)"), and so does a call the child has not answered within
// ATTNLAB_DUMP_READ_SECONDS (default 300). Every later call throws the same error. Ctrl-C or a
// kill that stops the child is not blamed on the file (std::runtime_error).
//
// Costs: a fork when the reader is made, and for each call a round trip over a socket (about
// 0.1 ms on these virtual machines) plus one copy of what it returns. Maps come through shared
// memory, and a walk over the maps of a layer and snapshot (heads fastest or samples fastest) is
// read ahead in runs of up to 8 MB, so that most map() calls make no round trip (`attnlab bench analyze` measures
// reading every map through the child against reading it in process).
//
// N = complete snapshots, B = probe samples, H = heads, Tq = query length, Tk = key length.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dump/dump_file.h"

namespace attnlab::dump {

class ChildProcess;

class DumpReader : public DumpOutline {
 public:
  // Throws DumpError naming the path when the file is missing, not HDF5, not an attention dump,
  // written with a newer schema version, or damaged.
  explicit DumpReader(const std::filesystem::path& path);
  ~DumpReader();
  DumpReader(const DumpReader&) = delete;
  DumpReader& operator=(const DumpReader&) = delete;

  std::string string_attribute(const char* name) const;  // root attributes (kAttribute*)
  std::int64_t int_attribute(const char* name) const;
  bool has(const std::string& dataset_path) const;

  // One attention map: row-major [Tq, Tk] floats (converted from float16 when stored so).
  std::vector<float> map(std::int64_t layer, std::int64_t snapshot, std::int64_t sample,
                         std::int64_t head) const;
  // Bytes of stored map elements read so far (before decompression; for throughput figures).
  std::uint64_t map_bytes_read() const { return map_bytes_read_; }
  // A statistic (name from kStatistics) of every complete snapshot: [N,H], [N,H,Tq] or [N,B,H,Tk].
  // The row masses of a dump older than schema 3 read as kRowMassBeforeSchema3.
  Array<float> statistic(std::int64_t layer, const std::string& name) const;
  Array<std::int32_t> allowed_keys(std::int64_t layer) const;       // [H,Tq]
  Array<std::int64_t> probe(const std::string& dataset_path) const;  // kProbe*: whole array
  Array<std::string> probe_text(const std::string& dataset_path) const;  // kProbeText, ...
  std::vector<double> probe_loss() const;                             // [N]

 private:
  // Sends one request to the child; returns its reply's payload or throws what the child threw.
  std::string ask(const std::string& request) const;
  std::uint64_t map_size(std::int64_t layer) const;  // Tq * Tk of a valid layer
  std::string context() const;

  std::unique_ptr<ChildProcess> child_;
  std::size_t map_element_bytes_ = 0;
  mutable std::uint64_t map_bytes_read_ = 0;

  // The maps shared memory holds: `count` maps of one layer and snapshot from position `first`
  // on (in [samples, heads] order with heads fastest, or samples fastest), `size` floats each.
  struct MapRun {
    std::int64_t layer = -1, snapshot = -1, first = 0, count = 0;
    bool heads_fastest = true;
    std::uint64_t size = 0;
  };
  // The map asked for last.
  struct MapAt {
    std::int64_t layer = -1, snapshot = -1, sample = -1, head = -1;
  };
  mutable MapRun run_;
  mutable MapAt last_;
  mutable std::int64_t streak_ = 0;  // maps asked for in one walk so far, this one included
};

}  // namespace attnlab::dump
