// Writes an attention dump (attention.h5; layout in dump/dump_schema.h) one snapshot at
// a time. No LibTorch here: the recorder hands over plain buffers, and the writer's throughput can
// be measured alone.
//
// Crash safety (a SIGKILL at any moment must leave every completed snapshot readable):
// - a snapshot is written, then flushed; only then is its step appended to /steps and flushed
//   again, so /steps never names a snapshot whose data is not on disk (readers trust /steps);
// - the metadata cache does not evict, so metadata reaches the file only at those flushes, never
//   half-way through a snapshot;
// - freed file space is never reused (file space strategy NONE), so writing a new snapshot cannot
//   overwrite anything the last flushed state refers to; statistics are stored uncompressed, so
//   their partly filled chunks are rewritten in place with identical old bytes;
// - the space a flush needs is reserved (fallocate) before it starts, so a full disk fails before
//   the file is touched; after any failed write the file is fenced (nothing more reaches it).
// The one unguarded window is the metadata write inside a flush (microseconds per snapshot).
// The file keeps HDF5's default (1.8-compatible) format: files in the 1.10 format mark themselves
// "open for write", and h5py and h5dump refuse them after a crash until `h5clear -s`.
//
// B = probe samples, H = heads, Tq = query length, Tk = key length.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dump/dump_schema.h"

namespace attnlab::record {

enum class MapDtype { Float16, Float32 };
MapDtype parse_map_dtype(const std::string& name);  // "float16" | "float32"
std::string map_dtype_name(MapDtype dtype);
std::size_t map_dtype_size(MapDtype dtype);

struct IntArray {
  std::vector<std::int64_t> shape;  // empty: absent
  std::vector<std::int64_t> values;
};

struct LayerLayout {
  std::int64_t index = 0;  // forward order among the model's attention modules
  std::string kind;        // "self" | "cross"
  dump::LayerRole role = dump::LayerRole::DecoderSelf;  // Cross exactly when kind is "cross"
  bool causal = false;
  std::int64_t heads = 0;
  std::int64_t query_length = 0;
  std::int64_t key_length = 0;
  std::vector<std::int32_t> allowed_keys;  // [H,Tq] n_i
  std::string map_kind = dump::kMapKindDistribution;  // one of dump::kMapKinds
};

struct DumpLayout {
  std::int64_t samples = 0;
  bool maps = true;
  MapDtype map_dtype = MapDtype::Float16;
  int compression = 0;  // gzip level (with shuffle); 0 = none
  bool importance = true;
  std::vector<LayerLayout> layers;
  IntArray probe_indices, probe_tokens, probe_targets, probe_source;
  // A probe of a user's inputs (`attnlab probe`): [B] lengths, [B] texts, [B*Tq] token texts;
  // empty for a recorded run's.
  IntArray probe_lengths;
  std::vector<std::string> probe_text, probe_token_text;
  std::vector<std::pair<std::string, std::string>> text_attributes;  // config, variant, ...
  std::vector<std::pair<std::string, std::int64_t>> int_attributes;  // record_every, ...
};

struct LayerSnapshot {
  // [B,H,Tq,Tk] contiguous, in the layout's dtype (IEEE binary16 bits or float32); ignored when
  // the layout has no maps.
  const void* maps = nullptr;
  // Every statistic of dump::kStatistics the layout records, by name, in its shape.
  std::map<std::string, std::vector<float>> statistics;
};

struct Snapshot {
  std::int64_t step = 0;
  double probe_loss = 0.0;
  std::vector<LayerSnapshot> layers;
};

class DumpWriter {
 public:
  // A new dump. Throws attnlab::IoError (naming the path) when the file exists or cannot be
  // created.
  static std::unique_ptr<DumpWriter> create(const std::filesystem::path& path,
                                            const DumpLayout& layout);
  // Continues an existing dump: keeps its complete snapshots with step <= keep_through_step and
  // drops the rest (later ones, and a partial one left by a crash). A dump of an older schema
  // version is brought to the current one first (what it lacks is what readers derive for it).
  // Throws attnlab::IoError when the file cannot be opened or was recorded with another layout (a
  // newer schema version included); the file is then left untouched.
  static std::unique_ptr<DumpWriter> resume(const std::filesystem::path& path,
                                            const DumpLayout& layout,
                                            std::int64_t keep_through_step);
  ~DumpWriter();
  DumpWriter(const DumpWriter&) = delete;
  DumpWriter& operator=(const DumpWriter&) = delete;

  // Appends one snapshot; when it returns, the snapshot survives a SIGKILL. Throws attnlab::IoError
  // (disk full, ...) naming the path; the writer is unusable afterwards.
  void append(const Snapshot& snapshot);
  // Closes the file; throws attnlab::IoError when the final write fails.
  void close();

  const std::filesystem::path& path() const;
  const std::vector<std::int64_t>& steps() const;  // complete snapshots in the file
  std::uint64_t map_bytes_written() const;         // uncompressed map bytes appended by this writer
  std::uint64_t file_bytes() const;                // size of the file now

 private:
  struct State;
  explicit DumpWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace attnlab::record
