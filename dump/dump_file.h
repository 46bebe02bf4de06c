// Reads an attention dump (attention.h5, layout in dump_schema.h) in this process, with the HDF5 C
// API: maps one chunk at a time, statistics and probe arrays whole. Only complete snapshots are
// visible: a file left by a crashed run reads like one that stopped after its last complete
// snapshot.
//
// libhdf5 1.10 can crash or loop on a damaged file, taking its caller with it. Analysis commands
// therefore read dumps through DumpReader (dump_reader.h), which runs a DumpFile in a child
// process; the dump writer, which reads back its own file on resume, uses the functions below.
//
// N = complete snapshots, B = probe samples, H = heads, Tq = query length, Tk = key length.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "dump/dump_outline.h"
#include "dump/dump_schema.h"
#include "dump/hdf5_support.h"

namespace attnlab::dump {

// A row-major array with its shape.
template <typename T>
struct Array {
  std::vector<std::int64_t> shape;
  std::vector<T> values;
};

// Steps of the complete snapshots of an open dump: the /steps prefix that is written (no fill
// value, strictly increasing) and covered by every other snapshot-axis dataset. Used by the
// reader and by a writer that resumes a dump.
std::vector<std::int64_t> committed_steps(hid_t file, const std::string& context);

// Every dataset that grows along the snapshot axis (paths from the root).
std::vector<std::string> snapshot_datasets(hid_t file, const std::string& context);

class DumpFile : public DumpOutline {
 public:
  // Whether the file may be shared with a handle to it this process already has open (HDF5 reads
  // both through one open file); `never` in a forked child, where such handles are the parent's
  // (opens through HDF5's log driver, which nothing else in attnlab uses).
  enum class Sharing { allowed, never };

  // Throws DumpError naming the path when the file is missing, not HDF5, not an attention dump,
  // or written with a newer schema version.
  explicit DumpFile(const std::filesystem::path& path, Sharing sharing = Sharing::allowed);

  std::size_t map_element_bytes() const { return map_element_bytes_; }  // 2 (float16) or 4
  std::string string_attribute(const char* name) const;  // root attributes (kAttribute*)
  std::int64_t int_attribute(const char* name) const;
  bool has(const std::string& dataset_path) const;

  // One attention map: row-major [Tq, Tk] floats (converted from float16 when stored so).
  std::vector<float> map(std::int64_t layer, std::int64_t snapshot, std::int64_t sample,
                         std::int64_t head) const;
  // The same into `values`, which holds Tq * Tk floats.
  void map_into(std::int64_t layer, std::int64_t snapshot, std::int64_t sample, std::int64_t head,
                float* values) const;
  // A statistic (name from kStatistics) of every complete snapshot: [N,H], [N,H,Tq] or [N,B,H,Tk].
  // The row masses of a dump older than schema 3 read as kRowMassBeforeSchema3.
  Array<float> statistic(std::int64_t layer, const std::string& name) const;
  Array<std::int32_t> allowed_keys(std::int64_t layer) const;       // [H,Tq]
  Array<std::int64_t> probe(const std::string& dataset_path) const;  // kProbe*: whole array
  Array<std::string> probe_text(const std::string& dataset_path) const;  // kProbeText, ...
  std::vector<double> probe_loss() const;                             // [N]

 private:
  LayerInfo read_layer_info(hid_t group, const std::string& where) const;
  void open_maps(hid_t group, const LayerInfo& info, const std::string& where);
  const LayerInfo& layer_info(std::int64_t layer) const;
  std::string context() const;

  Handle file_;
  std::vector<Handle> maps_;  // per layer, kept open for chunk-by-chunk reads
  std::size_t map_element_bytes_ = 0;
  bool maps_are_half_ = false;
  Handle half_type_;  // the float16 memory type maps are read in when stored so
};

}  // namespace attnlab::dump
