#include "experiments/record/dump_writer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "dump/dump_file.h"
#include "dump/dump_schema.h"
#include "dump/hdf5_support.h"
#include "base/atomic_file.h"

namespace attnlab::record {

using dump::check;
using dump::check_status;
using dump::DumpError;
using dump::Handle;
using dump::QuietErrors;

MapDtype parse_map_dtype(const std::string& name) {
  if (name == "float16") return MapDtype::Float16;
  if (name == "float32") return MapDtype::Float32;
  throw std::invalid_argument("map dtype must be float16 or float32, not '" + name + "'");
}

std::string map_dtype_name(MapDtype dtype) {
  return dtype == MapDtype::Float16 ? "float16" : "float32";
}

std::size_t map_dtype_size(MapDtype dtype) { return dtype == MapDtype::Float16 ? 2 : 4; }

namespace {

// Steps of /steps per chunk: the chunk holding the newest step is rewritten in place at each
// snapshot (old entries unchanged), and a new chunk, which changes the index, is needed only
// every this many snapshots.
constexpr hsize_t kStepsChunk = 4096;
constexpr hsize_t kHeadStatisticChunk = 64;   // snapshots per chunk of an [N,H] statistic
constexpr hsize_t kQueryStatisticChunk = 16;  // snapshots per chunk of an [N,H,Tq] statistic

struct GrowingDataset {
  std::string path;       // from the root
  Handle dataset;
  hid_t memory_type = -1;
  std::vector<hsize_t> row;  // shape of one snapshot's slice
  std::size_t row_values() const {
    std::size_t count = 1;
    for (const auto dim : row) count *= static_cast<std::size_t>(dim);
    return count;
  }
};

std::vector<hsize_t> statistic_row(dump::StatisticShape shape, const LayerLayout& layer,
                                   std::int64_t samples) {
  const auto heads = static_cast<hsize_t>(layer.heads);
  switch (shape) {
    case dump::StatisticShape::Head: return {heads};
    case dump::StatisticShape::HeadQuery: return {heads, static_cast<hsize_t>(layer.query_length)};
    case dump::StatisticShape::SampleHeadKey:
      return {static_cast<hsize_t>(samples), heads, static_cast<hsize_t>(layer.key_length)};
  }
  return {};
}

hsize_t statistic_chunk(dump::StatisticShape shape) {
  switch (shape) {
    case dump::StatisticShape::Head: return kHeadStatisticChunk;
    case dump::StatisticShape::HeadQuery: return kQueryStatisticChunk;
    case dump::StatisticShape::SampleHeadKey: return 1;
  }
  return 1;
}

// Metadata reaches the file only when flushed: no evictions, no automatic resizing (both would
// write metadata in the middle of a snapshot).
Handle file_access_properties() {
  Handle access(check(H5Pcreate(H5P_FILE_ACCESS), "file access properties"), H5Pclose);
  H5AC_cache_config_t cache{};
  cache.version = H5AC__CURR_CACHE_CONFIG_VERSION;
  check_status(H5Pget_mdc_config(access.get(), &cache), "metadata cache configuration");
  cache.evictions_enabled = false;
  cache.incr_mode = H5C_incr__off;
  cache.flash_incr_mode = H5C_flash_incr__off;
  cache.decr_mode = H5C_decr__off;
  cache.set_initial_size = true;
  cache.initial_size = 16 * 1024 * 1024;
  cache.max_size = 64 * 1024 * 1024;
  check_status(H5Pset_mdc_config(access.get(), &cache), "metadata cache configuration");
  return access;
}

Handle create_growing(hid_t location, const std::string& name, hid_t file_type,
                      const std::vector<hsize_t>& row, hsize_t chunk_rows,
                      const std::vector<hsize_t>& chunk_row, int compression,
                      const char* dims, const char* doc, const std::string& context,
                      const void* fill = nullptr) {
  const std::string where = context + ": dataset " + name;
  std::vector<hsize_t> current = {0}, maximum = {H5S_UNLIMITED}, chunk = {chunk_rows};
  current.insert(current.end(), row.begin(), row.end());
  maximum.insert(maximum.end(), row.begin(), row.end());
  chunk.insert(chunk.end(), chunk_row.begin(), chunk_row.end());
  Handle space(check(H5Screate_simple(static_cast<int>(current.size()), current.data(),
                                      maximum.data()),
                     where),
               H5Sclose);
  Handle create(check(H5Pcreate(H5P_DATASET_CREATE), where), H5Pclose);
  check_status(H5Pset_chunk(create.get(), static_cast<int>(chunk.size()), chunk.data()), where);
  if (compression > 0) {
    check_status(H5Pset_shuffle(create.get()), where);
    check_status(H5Pset_deflate(create.get(), static_cast<unsigned>(compression)), where);
  }
  if (fill != nullptr) check_status(H5Pset_fill_value(create.get(), file_type, fill), where);
  Handle dataset(check(H5Dcreate2(location, name.c_str(), file_type, space.get(), H5P_DEFAULT,
                                  create.get(), H5P_DEFAULT),
                       where),
                 H5Dclose);
  dump::write_attribute(dataset.get(), dump::kDatasetAttributeDims, std::string(dims), where);
  dump::write_attribute(dataset.get(), dump::kDatasetAttributeDoc, std::string(doc), where);
  return dataset;
}

void write_fixed(hid_t location, const std::string& name, hid_t file_type, hid_t memory_type,
                 const std::vector<hsize_t>& shape, const void* values, const char* dims,
                 const std::string& context) {
  dump::write_dataset(location, name, file_type, memory_type, shape, values, dims, /*doc=*/"",
                      /*compression=*/0, context);
}

std::vector<hsize_t> to_hsize(const std::vector<std::int64_t>& shape) {
  return {shape.begin(), shape.end()};
}

// Sets the extent of a growing dataset's snapshot axis.
void set_rows(hid_t dataset, hsize_t rows, const std::vector<hsize_t>& row,
              const std::string& context) {
  std::vector<hsize_t> extent = {rows};
  extent.insert(extent.end(), row.begin(), row.end());
  check_status(H5Dset_extent(dataset, extent.data()), context);
}

// Writes one snapshot's slice (row `index`), extending the dataset first.
void write_row(const GrowingDataset& target, hsize_t index, const void* values,
               const std::string& context) {
  const std::string where = context + ": " + target.path;
  set_rows(target.dataset.get(), index + 1, target.row, where);
  Handle file_space(check(H5Dget_space(target.dataset.get()), where), H5Sclose);
  std::vector<hsize_t> start(target.row.size() + 1, 0), count = {1};
  start[0] = index;
  count.insert(count.end(), target.row.begin(), target.row.end());
  check_status(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr,
                                   count.data(), nullptr),
               where);
  Handle memory_space(check(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr),
                            where),
                      H5Sclose);
  check_status(H5Dwrite(target.dataset.get(), target.memory_type, memory_space.get(),
                        file_space.get(), H5P_DEFAULT, values),
               where);
}

bool records(const dump::Statistic& statistic, const DumpLayout& layout) {
  return layout.importance || !statistic.needs_importance;
}

// What one flush may allocate: a new chunk of every cached (statistics) dataset, and room for
// new index nodes and headers.
std::uint64_t flush_reserve(const DumpLayout& layout) {
  std::uint64_t bytes = 1 << 20;
  for (const auto& layer : layout.layers) {
    for (const auto& statistic : dump::kStatistics) {
      if (!records(statistic, layout)) continue;
      std::uint64_t chunk = statistic_chunk(statistic.shape) * sizeof(float);
      for (const auto dim : statistic_row(statistic.shape, layer, layout.samples)) chunk *= dim;
      bytes += chunk;
    }
  }
  return bytes + 2 * kStepsChunk * sizeof(double);
}

}  // namespace

struct DumpWriter::State {
  std::filesystem::path path;
  DumpLayout layout;
  Handle float16;
  Handle file;
  std::vector<GrowingDataset> maps;        // per layer (empty without maps)
  std::vector<std::vector<GrowingDataset>> statistics;  // per layer, in kStatistics order
  GrowingDataset steps_dataset;
  GrowingDataset probe_loss;
  std::vector<std::int64_t> steps;
  std::uint64_t map_bytes = 0;
  std::uint64_t flush_reserve = 0;  // bytes a flush may allocate beyond the current end
  bool failed = false;

  std::string context() const { return "attention dump " + path.string(); }
  hid_t map_file_type() const {
    return layout.map_dtype == MapDtype::Float16 ? float16.get() : H5T_IEEE_F32LE;
  }
  hid_t map_memory_type() const {
    return layout.map_dtype == MapDtype::Float16 ? float16.get() : H5T_NATIVE_FLOAT;
  }
  void open_datasets();
  std::vector<GrowingDataset*> growing();
  int descriptor();
  void flush(const std::string& what);
  void fence();
  void release();
  [[noreturn]] void fail(const std::string& message);
};

void DumpWriter::State::open_datasets() {
  const auto where = context();
  steps_dataset = {dump::kSteps, dump::open_dataset(file.get(), dump::kSteps, where),
                   H5T_NATIVE_INT64, {}};
  probe_loss = {dump::kProbeLoss, dump::open_dataset(file.get(), dump::kProbeLoss, where),
                H5T_NATIVE_DOUBLE, {}};
  maps.clear();
  statistics.clear();
  statistics.resize(layout.layers.size());
  for (std::size_t index = 0; index < layout.layers.size(); ++index) {
    const auto& layer = layout.layers[index];
    const std::string group = dump::layer_group(static_cast<std::int64_t>(index));
    if (layout.maps) {
      // Each chunk is written whole, once: a chunk cache would only delay and copy it.
      Handle access(check(H5Pcreate(H5P_DATASET_ACCESS), where), H5Pclose);
      check_status(H5Pset_chunk_cache(access.get(), 0, 0, 1.0), where);
      const std::string maps_path = group + "/" + dump::kLayerMaps;
      maps.push_back({maps_path,
                      Handle(check(H5Dopen2(file.get(), maps_path.c_str(), access.get()),
                                   where + ": dataset " + maps_path),
                             H5Dclose),
                      map_memory_type(),
                      {static_cast<hsize_t>(layout.samples), static_cast<hsize_t>(layer.heads),
                       static_cast<hsize_t>(layer.query_length),
                       static_cast<hsize_t>(layer.key_length)}});
    }
    for (const auto& statistic : dump::kStatistics) {
      if (!records(statistic, layout)) continue;
      const std::string statistic_path = group + "/" + statistic.name;
      statistics[index].push_back({statistic_path,
                                   dump::open_dataset(file.get(), statistic_path, where),
                                   H5T_NATIVE_FLOAT,
                                   statistic_row(statistic.shape, layer, layout.samples)});
    }
  }
}

std::vector<GrowingDataset*> DumpWriter::State::growing() {
  std::vector<GrowingDataset*> all = {&probe_loss};
  for (auto& dataset : maps) all.push_back(&dataset);
  for (auto& layer : statistics) {
    for (auto& dataset : layer) all.push_back(&dataset);
  }
  all.push_back(&steps_dataset);  // last: /steps is the commit marker
  return all;
}

int DumpWriter::State::descriptor() {
  void* handle = nullptr;
  check_status(H5Fget_vfd_handle(file.get(), H5P_DEFAULT, &handle), context());
  return *static_cast<int*>(handle);  // the default (sec2) driver's file descriptor
}

// A flush first writes cached raw data (chunks get their space then), then the metadata, which
// points at that space and at the file's end. Were the disk to fill up half-way, the file would
// end before its stated end and no longer open. So the space is claimed before anything is
// written (a full disk then fails here, cleanly), and what is left over is handed back after.
void DumpWriter::State::flush(const std::string& what) {
  const auto where = context() + ": " + what;
  haddr_t end = 0;
  check_status(H5Fget_eoa(file.get(), &end), where);
  const int fd = descriptor();
  const int reserved = ::posix_fallocate(fd, 0, static_cast<off_t>(end + flush_reserve));
  if (reserved != 0) throw DumpError(where + ": " + std::strerror(reserved));
  check_status(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), where);
  check_status(H5Fget_eoa(file.get(), &end), where);
  if (::ftruncate(fd, static_cast<off_t>(end)) != 0) {
    throw DumpError(where + ": " + std::strerror(errno));
  }
}

// After a failed write nothing more may reach the file: closing would flush metadata that
// refers to data which never got written. The descriptor is swapped for an anonymous in-memory
// file, so the close succeeds (HDF5 does not recover from a failed close) and writes nowhere,
// and the dump stays as its last successful flush left it.
void DumpWriter::State::fence() {
  if (!file.valid()) return;
  try {
    const int fd = descriptor();
    const int scratch = ::memfd_create("attnlab-dump-fence", MFD_CLOEXEC);
    if (scratch >= 0) {
      ::dup2(scratch, fd);
      ::close(scratch);
    }
  } catch (const DumpError&) {
    // No descriptor to fence: the file was not open.
  }
}

void DumpWriter::State::release() {
  maps.clear();
  statistics.clear();
  steps_dataset.dataset.reset();
  probe_loss.dataset.reset();
  file.reset();
}

// After a failed write: the writer stops for good, and nothing more reaches the file.
void DumpWriter::State::fail(const std::string& message) {
  failed = true;
  fence();
  release();
  throw attnlab::IoError(message);
}

DumpWriter::DumpWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}

DumpWriter::~DumpWriter() {
  QuietErrors quiet;
  if (state_->failed) state_->fence();
  state_->release();
}

namespace {

// A file whose freed space is never reused (an overwrite could corrupt the last flushed state).
Handle create_file(const std::filesystem::path& path, const std::string& where) {
  Handle creation(check(H5Pcreate(H5P_FILE_CREATE), where), H5Pclose);
  check_status(H5Pset_file_space_strategy(creation.get(), H5F_FSPACE_STRATEGY_NONE,
                                          /*persist=*/false, /*threshold=*/1),
               where);
  const auto access = file_access_properties();
  return Handle(check(H5Fcreate(path.c_str(), H5F_ACC_EXCL, creation.get(), access.get()), where),
                H5Fclose);
}

void write_root_attributes(hid_t file, const DumpLayout& layout, const std::string& where) {
  dump::write_attribute(file, dump::kAttributeFormat, std::string(dump::kFormat), where);
  dump::write_attribute(file, dump::kAttributeSchemaVersion, dump::kSchemaVersion, where);
  for (const auto& [name, value] : layout.text_attributes) {
    dump::write_attribute(file, name.c_str(), value, where);
  }
  for (const auto& [name, value] : layout.int_attributes) {
    dump::write_attribute(file, name.c_str(), value, where);
  }
  dump::write_attribute(file, dump::kAttributeLayers,
                        static_cast<std::int64_t>(layout.layers.size()), where);
  dump::write_attribute(file, dump::kAttributeHeads,
                        layout.layers.empty() ? std::int64_t{0} : layout.layers[0].heads, where);
  dump::write_attribute(file, dump::kAttributeSamples, layout.samples, where);
  dump::write_attribute(file, dump::kAttributeMaps, std::int64_t{layout.maps}, where);
  dump::write_attribute(file, dump::kAttributeMapDtype, map_dtype_name(layout.map_dtype), where);
  dump::write_attribute(file, dump::kAttributeCompression,
                        static_cast<std::int64_t>(layout.compression), where);
  dump::write_attribute(file, dump::kAttributeImportance, std::int64_t{layout.importance}, where);
}

// /steps and /probe_loss, empty, and the probe arrays the layout has.
void create_root_datasets(hid_t file, const DumpLayout& layout, const std::string& where) {
  const std::int64_t step_fill = dump::kStepFill;
  create_growing(file, dump::kSteps, H5T_STD_I64LE, {}, kStepsChunk, {}, 0, "snapshot",
                 "training step of each complete snapshot (0 = before training)", where,
                 &step_fill);
  create_growing(file, dump::kProbeLoss, H5T_IEEE_F64LE, {}, kStepsChunk, {}, 0, "snapshot",
                 "loss of the probe batch", where);
  Handle probe(check(H5Gcreate2(file, dump::kProbeGroup, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                     where),
               H5Gclose);
  auto write_probe = [&](const char* name, const IntArray& array, const char* dims) {
    if (array.shape.empty()) return;
    write_fixed(file, name, H5T_STD_I64LE, H5T_NATIVE_INT64, to_hsize(array.shape),
                array.values.data(), dims, where);
  };
  write_probe(dump::kProbeIndices, layout.probe_indices, "sample");
  write_probe(dump::kProbeTokens, layout.probe_tokens, "sample,query");
  write_probe(dump::kProbeTargets, layout.probe_targets,
              layout.probe_targets.shape.size() == 1 ? "sample" : "sample,query");
  write_probe(dump::kProbeSource, layout.probe_source, "sample,source");
  write_probe(dump::kProbeLengths, layout.probe_lengths, "sample");
  if (!layout.probe_text.empty()) {
    dump::write_strings(file, dump::kProbeText, layout.probe_text, {layout.probe_text.size()},
                        "sample", "each input as given", where);
    dump::write_strings(file, dump::kProbeTokenText, layout.probe_token_text,
                        to_hsize(layout.probe_tokens.shape), "sample,query",
                        "each token as text (empty after the input's end)", where);
  }
}

void write_layer_attributes(hid_t group, const LayerLayout& layer, const std::string& where) {
  if ((layer.role == dump::LayerRole::Cross) != (layer.kind == "cross")) {
    throw std::invalid_argument(where + ": layer " + std::to_string(layer.index) + " of kind '" +
                                layer.kind + "' cannot have the role " +
                                dump::role_name(layer.role));
  }
  if (!dump::is_map_kind(layer.map_kind)) {
    throw std::invalid_argument(where + ": layer " + std::to_string(layer.index) +
                                " has the unknown map kind '" + layer.map_kind + "'");
  }
  dump::write_attribute(group, dump::kLayerAttributeIndex, layer.index, where);
  dump::write_attribute(group, dump::kLayerAttributeKind, layer.kind, where);
  dump::write_attribute(group, dump::kLayerAttributeRole, std::string(dump::role_name(layer.role)),
                        where);
  dump::write_attribute(group, dump::kLayerAttributeCausal, std::int64_t{layer.causal}, where);
  dump::write_attribute(group, dump::kLayerAttributeHeads, layer.heads, where);
  dump::write_attribute(group, dump::kLayerAttributeQueryLength, layer.query_length, where);
  dump::write_attribute(group, dump::kLayerAttributeKeyLength, layer.key_length, where);
  dump::write_attribute(group, dump::kLayerAttributeMapKind, layer.map_kind, where);
}

// A layer's empty growing dataset of `statistic`; unwritten rows read as `fill` when given.
void create_statistic(hid_t group, const dump::Statistic& statistic, const LayerLayout& layer,
                      std::int64_t samples, const std::string& where,
                      const float* fill = nullptr) {
  const auto row = statistic_row(statistic.shape, layer, samples);
  create_growing(group, statistic.name, H5T_IEEE_F32LE, row, statistic_chunk(statistic.shape),
                 row, /*compression=*/0, dump::statistic_dims(statistic.shape), statistic.doc,
                 where, fill);
}

// Layer `index`'s group: attributes, allowed keys, and its empty maps and statistics.
void create_layer(hid_t file, const DumpLayout& layout, std::size_t index, hid_t map_file_type,
                  const std::string& where) {
  const auto& layer = layout.layers[index];
  const std::string name = dump::layer_group(static_cast<std::int64_t>(index));
  Handle group(check(H5Gcreate2(file, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), where),
               H5Gclose);
  write_layer_attributes(group.get(), layer, where);
  if (static_cast<std::int64_t>(layer.allowed_keys.size()) != layer.heads * layer.query_length) {
    throw std::invalid_argument(where + ": allowed_keys of layer " + name +
                                " must hold H * Tq values");
  }
  const auto heads = static_cast<hsize_t>(layer.heads);
  const auto queries = static_cast<hsize_t>(layer.query_length);
  const auto keys = static_cast<hsize_t>(layer.key_length);
  write_fixed(group.get(), dump::kLayerAllowedKeys, H5T_STD_I32LE, H5T_NATIVE_INT32,
              {heads, queries}, layer.allowed_keys.data(), dump::kAllowedKeysDims, where);
  if (layout.maps) {
    // One (sample, head) map per chunk: a reader pulls single maps, a writer never rewrites.
    create_growing(group.get(), dump::kLayerMaps, map_file_type,
                   {static_cast<hsize_t>(layout.samples), heads, queries, keys}, 1,
                   {1, 1, queries, keys}, layout.compression, dump::kMapDims,
                   "attention map A[i, j] as the layer made it; what its rows are: the group's "
                   "map_kind (distribution: they sum to 1 over the allowed keys)",
                   where);
  }
  for (const auto& statistic : dump::kStatistics) {
    if (records(statistic, layout)) create_statistic(group.get(), statistic, layer,
                                                     layout.samples, where);
  }
}

}  // namespace

std::unique_ptr<DumpWriter> DumpWriter::create(const std::filesystem::path& path,
                                               const DumpLayout& layout) {
  auto state = std::make_unique<State>();
  state->path = path;
  state->layout = layout;
  const auto where = state->context();
  if (std::filesystem::exists(path)) {
    throw attnlab::IoError(where + " already exists (a new run does not overwrite a dump; resume "
                                   "the run with --resume to continue it)");
  }
  QuietErrors quiet;
  try {
    state->float16 = dump::make_float16_type();
    state->file = create_file(path, where);
    const hid_t file = state->file.get();
    write_root_attributes(file, layout, where);
    create_root_datasets(file, layout, where);
    Handle layers(
        check(H5Gcreate2(file, dump::kLayersGroup, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), where),
        H5Gclose);
    for (std::size_t index = 0; index < layout.layers.size(); ++index) {
      create_layer(file, layout, index, state->map_file_type(), where);
    }
    state->open_datasets();
    state->flush_reserve = flush_reserve(layout);
    state->flush("first flush");
  } catch (const DumpError& error) {
    state->fail(std::string("cannot create ") + error.what());
  }
  return std::unique_ptr<DumpWriter>(new DumpWriter(std::move(state)));
}

namespace {

// The map kind a layer of a dump of `version` holds: stored since schema 3; the maps of older
// dumps are distributions.
std::string stored_map_kind(hid_t group, std::int64_t version, const std::string& where) {
  if (version < 3) return dump::kMapKindDistribution;
  return dump::read_string_attribute(group, dump::kLayerAttributeMapKind, where);
}

// Throws DumpError when the dump at `file` was not recorded with `layout`; returns its schema
// version (the current one, or an older one that upgrade_schema brings up to date).
std::int64_t check_layout(hid_t file, const DumpLayout& layout, const std::string& where) {
  auto mismatch = [&](const std::string& what) {
    throw DumpError(where + " was recorded differently (" + what +
                    "); it cannot be continued by this run");
  };
  if (!dump::has_attribute(file, dump::kAttributeFormat) ||
      dump::read_string_attribute(file, dump::kAttributeFormat, where) != dump::kFormat) {
    mismatch("not an attnlab attention dump");
  }
  const auto version = dump::read_int_attribute(file, dump::kAttributeSchemaVersion, where);
  if (version < 1 || version > dump::kSchemaVersion) {
    mismatch("schema version " + std::to_string(version));
  }
  const bool roles_stored = version >= 2;
  if (dump::read_int_attribute(file, dump::kAttributeSamples, where) != layout.samples) {
    mismatch("probe samples");
  }
  if ((dump::read_int_attribute(file, dump::kAttributeMaps, where) != 0) != layout.maps ||
      dump::read_string_attribute(file, dump::kAttributeMapDtype, where) !=
          map_dtype_name(layout.map_dtype) ||
      dump::read_int_attribute(file, dump::kAttributeCompression, where) != layout.compression ||
      (dump::read_int_attribute(file, dump::kAttributeImportance, where) != 0) !=
          layout.importance) {
    mismatch("record.maps, record.dtype, record.compression or record.importance");
  }
  if (dump::read_int_attribute(file, dump::kAttributeLayers, where) !=
      static_cast<std::int64_t>(layout.layers.size())) {
    mismatch("number of attention layers");
  }
  for (std::size_t index = 0; index < layout.layers.size(); ++index) {
    const auto& layer = layout.layers[index];
    const std::string name = dump::layer_group(static_cast<std::int64_t>(index));
    Handle group = dump::open_group(file, name, where);
    if (dump::read_string_attribute(group.get(), dump::kLayerAttributeKind, where) != layer.kind ||
        (roles_stored &&
         dump::read_string_attribute(group.get(), dump::kLayerAttributeRole, where) !=
             dump::role_name(layer.role)) ||
        dump::read_int_attribute(group.get(), dump::kLayerAttributeHeads, where) != layer.heads ||
        dump::read_int_attribute(group.get(), dump::kLayerAttributeQueryLength, where) !=
            layer.query_length ||
        dump::read_int_attribute(group.get(), dump::kLayerAttributeKeyLength, where) !=
            layer.key_length) {
      mismatch("shape of " + name);
    }
    const auto map_kind = stored_map_kind(group.get(), version, where);
    if (map_kind != layer.map_kind) {
      mismatch("map kind of " + name + ": " + map_kind + ", this run's " + layer.map_kind);
    }
  }
  // The probe must be the same examples, or maps would not be comparable over the run.
  Handle tokens = dump::open_dataset(file, dump::kProbeTokens, where);
  std::vector<std::int64_t> stored(layout.probe_tokens.values.size());
  if (dump::dataset_dims(tokens.get(), where) != to_hsize(layout.probe_tokens.shape)) {
    mismatch("probe tokens");
  }
  check_status(H5Dread(tokens.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                       stored.data()),
               where + ": " + dump::kProbeTokens);
  if (stored != layout.probe_tokens.values) mismatch("probe tokens");
  return version;
}

// The row masses (the statistics newer than a dump of `version`) added to one of its layers, over
// its `snapshots` committed snapshots: they read as the value readers give such dumps (their maps
// are distributions), and a dataset a crashed upgrade already made is kept.
void add_row_masses(hid_t group, const LayerLayout& layer, const DumpLayout& layout,
                    std::int64_t version, hsize_t snapshots, const std::string& where) {
  for (const auto& statistic : dump::kStatistics) {
    if (!dump::predates(statistic, version) || dump::link_exists(group, statistic.name)) continue;
    create_statistic(group, statistic, layer, layout.samples, where,
                     &dump::kRowMassBeforeSchema3);
    Handle dataset = dump::open_dataset(group, statistic.name, where);
    set_rows(dataset.get(), snapshots, statistic_row(statistic.shape, layer, layout.samples),
             where + ": " + statistic.name);
  }
}

// An older dump that a run continues gains what readers derive for it: schema 1 the roles of its
// layers, schemas 1 and 2 their map kinds (distribution, checked by check_layout) and row masses
// (1). Attributes and datasets go first and the version last: a crash before it leaves an old
// version's file, which readers read as before and the next resume upgrades again.
void upgrade_schema(hid_t file, std::int64_t version, const DumpLayout& layout,
                    hsize_t snapshots, const std::string& where) {
  for (std::size_t index = 0; index < layout.layers.size(); ++index) {
    const auto& layer = layout.layers[index];
    Handle group = dump::open_group(file, dump::layer_group(static_cast<std::int64_t>(index)),
                                    where);
    if (version < 2) {
      dump::write_attribute(group.get(), dump::kLayerAttributeRole,
                            std::string(dump::role_name(layer.role)), where);
    }
    dump::write_attribute(group.get(), dump::kLayerAttributeMapKind, layer.map_kind, where);
    add_row_masses(group.get(), layer, layout, version, snapshots, where);
  }
  dump::write_attribute(file, dump::kAttributeSchemaVersion, dump::kSchemaVersion, where);
}

}  // namespace

std::unique_ptr<DumpWriter> DumpWriter::resume(const std::filesystem::path& path,
                                               const DumpLayout& layout,
                                               std::int64_t keep_through_step) {
  auto state = std::make_unique<State>();
  state->path = path;
  state->layout = layout;
  const auto where = state->context();
  QuietErrors quiet;
  try {
    state->float16 = dump::make_float16_type();
    std::int64_t version = 0;
    std::size_t committed = 0;
    {
      // Checked read-only first, so that a file this run cannot continue is left byte for byte.
      Handle file(check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), where), H5Fclose);
      version = check_layout(file.get(), layout, where);
      committed = dump::committed_steps(file.get(), where).size();
    }
    const auto access = file_access_properties();
    state->file = Handle(check(H5Fopen(path.c_str(), H5F_ACC_RDWR, access.get()), where),
                         H5Fclose);
    if (version < dump::kSchemaVersion) {
      upgrade_schema(state->file.get(), version, layout, committed, where);
    }
    state->open_datasets();
    state->flush_reserve = flush_reserve(layout);
    auto steps = dump::committed_steps(state->file.get(), where);
    std::size_t keep = 0;
    while (keep < steps.size() && steps[keep] <= keep_through_step) ++keep;
    steps.resize(keep);
    // Later snapshots and a partial one left by a crash go; the rest of the file stays.
    for (auto* dataset : state->growing()) {
      set_rows(dataset->dataset.get(), keep, dataset->row, where + ": " + dataset->path);
    }
    state->steps = steps;
    state->flush("truncating to step " + std::to_string(keep_through_step));
  } catch (const DumpError& error) {
    state->fail("cannot continue " + std::string(error.what()) +
                ". The file was left as it is (move it aside to start a new dump)");
  }
  return std::unique_ptr<DumpWriter>(new DumpWriter(std::move(state)));
}

void DumpWriter::append(const Snapshot& snapshot) {
  auto& state = *state_;
  const auto where = state.context();
  if (state.failed || !state.file.valid()) {
    throw attnlab::IoError(where + ": the writer stopped after an earlier error");
  }
  if (snapshot.layers.size() != state.layout.layers.size()) {
    throw std::invalid_argument(where + ": snapshot has " + std::to_string(snapshot.layers.size()) +
                                " layers, the dump " +
                                std::to_string(state.layout.layers.size()));
  }
  if (!state.steps.empty() && snapshot.step <= state.steps.back()) {
    throw std::invalid_argument(where + ": snapshot step " + std::to_string(snapshot.step) +
                                " is not after the last one, " +
                                std::to_string(state.steps.back()));
  }
  QuietErrors quiet;
  const auto index = static_cast<hsize_t>(state.steps.size());
  try {
    for (std::size_t layer = 0; layer < snapshot.layers.size(); ++layer) {
      const auto& data = snapshot.layers[layer];
      if (state.layout.maps) {
        const auto& maps = state.maps[layer];
        if (data.maps == nullptr) throw std::invalid_argument(where + ": snapshot without maps");
        write_row(maps, index, data.maps, where);
        state.map_bytes += maps.row_values() * map_dtype_size(state.layout.map_dtype);
      }
      for (auto& statistic : state.statistics[layer]) {
        const auto name = statistic.path.substr(statistic.path.rfind('/') + 1);
        const auto found = data.statistics.find(name);
        if (found == data.statistics.end() || found->second.size() != statistic.row_values()) {
          throw std::invalid_argument(where + ": snapshot statistic " + statistic.path +
                                      " missing or of the wrong size");
        }
        write_row(statistic, index, found->second.data(), where);
      }
    }
    write_row(state.probe_loss, index, &snapshot.probe_loss, where);
    state.flush("snapshot at step " + std::to_string(snapshot.step));
    // Commit: only now does the snapshot count.
    write_row(state.steps_dataset, index, &snapshot.step, where);
    state.flush("snapshot at step " + std::to_string(snapshot.step));
  } catch (const DumpError& error) {
    state.fail("cannot write " + std::string(error.what()) +
               " (the dump keeps the snapshots before step " + std::to_string(snapshot.step) +
               ")");
  }
  state.steps.push_back(snapshot.step);
}

void DumpWriter::close() {
  auto& state = *state_;
  if (!state.file.valid()) return;
  QuietErrors quiet;
  try {
    // Everything is flushed after each snapshot; this flush only makes the close write nothing.
    state.flush("close");
  } catch (const DumpError& error) {
    state.fail("cannot close " + std::string(error.what()));
  }
  state.maps.clear();
  state.statistics.clear();
  state.steps_dataset.dataset.reset();
  state.probe_loss.dataset.reset();
  if (!state.file.reset()) {
    throw attnlab::IoError("cannot close " + state.context() + ": " + dump::last_error());
  }
}

const std::filesystem::path& DumpWriter::path() const { return state_->path; }
const std::vector<std::int64_t>& DumpWriter::steps() const { return state_->steps; }
std::uint64_t DumpWriter::map_bytes_written() const { return state_->map_bytes; }

std::uint64_t DumpWriter::file_bytes() const {
  if (state_->file.valid()) {
    hsize_t size = 0;
    if (H5Fget_filesize(state_->file.get(), &size) >= 0) return size;
  }
  std::error_code ignored;
  const auto size = std::filesystem::file_size(state_->path, ignored);
  return ignored ? 0 : size;
}

}  // namespace attnlab::record
