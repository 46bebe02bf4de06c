#include "dump/dump_file.h"

#include <algorithm>
#include <stdexcept>


namespace attnlab::dump {
namespace {

// The number of elements of `dims`, which come from the file: a corrupt file may claim more than
// memory (or a size_t) holds. Every element takes at least a byte of the file, expanded at most
// about 1032 times by gzip, plus unwritten chunks that read as the fill value (a crashed writer
// leaves at most one per dataset), so a dump attnlab wrote never comes near this bound.
std::size_t element_count(hid_t dataset, const std::vector<hsize_t>& dims,
                          const std::string& context) {
  constexpr hsize_t kGzipRatio = 1032;
  constexpr hsize_t kUnwrittenElements = hsize_t{1} << 24;
  Handle file(check(H5Iget_file_id(dataset), context), H5Fclose);
  hsize_t file_bytes = 0;
  check_status(H5Fget_filesize(file.get(), &file_bytes), context);
  const hsize_t limit = file_bytes * kGzipRatio + kUnwrittenElements;
  hsize_t count = 1;
  for (const auto dim : dims) {
    if (dim != 0 && count > limit / dim) {
      throw DumpError(context + ": the dataset claims more elements than the file can hold");
    }
    count *= dim;
  }
  return static_cast<std::size_t>(count);
}

// Reads rows [0, rows) of the outermost axis (all of it when rows < 0), converted to `memory_type`.
template <typename T>
Array<T> read_leading(hid_t dataset, hid_t memory_type, std::int64_t rows,
                      const std::string& context) {
  auto dims = dataset_dims(dataset, context);
  if (rows >= 0 && !dims.empty()) dims[0] = std::min<hsize_t>(dims[0], static_cast<hsize_t>(rows));
  Array<T> array;
  const std::size_t count = element_count(dataset, dims, context);
  for (const auto dim : dims) array.shape.push_back(static_cast<std::int64_t>(dim));
  array.values.resize(count);
  if (count == 0) return array;
  Handle file_space(check(H5Dget_space(dataset), context), H5Sclose);
  std::vector<hsize_t> start(dims.size(), 0);
  check_status(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr,
                                   dims.data(), nullptr),
               context);
  Handle memory_space(check(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                            context),
                      H5Sclose);
  check_status(H5Dread(dataset, memory_type, memory_space.get(), file_space.get(), H5P_DEFAULT,
                       array.values.data()),
               context);
  return array;
}

// Roles of a schema 1 dump, as analysis derived them before they were stored. Encoder-decoder
// models run their encoder's self-attention layers first, then per decoder block its self- and
// cross-attention, so a self-attention layer is the decoder's exactly when a cross-attention layer
// follows it; a model without cross-attention has one stack, an encoder when `encoder_only`.
void derive_roles(std::vector<LayerInfo>& layers, bool encoder_only) {
  const auto is_cross = [](const LayerInfo& layer) { return layer.kind == "cross"; };
  const bool has_cross = std::any_of(layers.begin(), layers.end(), is_cross);
  for (std::size_t index = 0; index < layers.size(); ++index) {
    auto& layer = layers[index];
    if (is_cross(layer)) {
      layer.role = LayerRole::Cross;
    } else if (has_cross) {
      const bool decoder = index + 1 < layers.size() && is_cross(layers[index + 1]);
      layer.role = decoder ? LayerRole::DecoderSelf : LayerRole::EncoderSelf;
    } else {
      layer.role = encoder_only ? LayerRole::EncoderSelf : LayerRole::DecoderSelf;
    }
  }
}

}  // namespace

std::vector<std::string> snapshot_datasets(hid_t file, const std::string& context) {
  std::vector<std::string> paths = {kProbeLoss};
  const auto layers = read_int_attribute(file, kAttributeLayers, context);
  for (std::int64_t layer = 0; layer < layers; ++layer) {
    const std::string group = layer_group(layer);
    if (link_exists(file, group + "/" + kLayerMaps)) paths.push_back(group + "/" + kLayerMaps);
    for (const auto& statistic : kStatistics) {
      const std::string path = group + "/" + statistic.name;
      if (link_exists(file, path)) paths.push_back(path);
    }
  }
  return paths;
}

std::vector<std::int64_t> committed_steps(hid_t file, const std::string& context) {
  Handle steps_dataset = open_dataset(file, kSteps, context);
  auto steps = read_leading<std::int64_t>(steps_dataset.get(), H5T_NATIVE_INT64, -1,
                                          context + ": " + kSteps)
                   .values;
  std::size_t complete = 0;
  while (complete < steps.size() && steps[complete] != kStepFill &&
         (complete == 0 || steps[complete] > steps[complete - 1])) {
    ++complete;
  }
  for (const auto& path : snapshot_datasets(file, context)) {
    Handle dataset = open_dataset(file, path, context);
    const auto dims = dataset_dims(dataset.get(), context + ": " + path);
    complete = std::min<std::size_t>(complete, dims.empty() ? 0 : dims[0]);
  }
  steps.resize(complete);
  return steps;
}

DumpFile::DumpFile(const std::filesystem::path& path, Sharing sharing) : DumpOutline(path) {
  QuietErrors quiet;
  if (!std::filesystem::exists(path_)) throw DumpError(context() + ": no such file");
  // HDF5 shares one open file per device and inode among the handles of a process that use the
  // same driver. A forked child inherits the parent's open files, with descriptors it has closed,
  // so it opens through the log driver (the default sec2 driver's reads, logging nothing), which
  // attnlab uses nowhere else: no file open in the parent can match.
  Handle access(check(H5Pcreate(H5P_FILE_ACCESS), context()), H5Pclose);
  if (sharing == Sharing::never) {
    check_status(H5Pset_fapl_log(access.get(), nullptr, 0, 0), context());
  }
  file_ = Handle(check(H5Fopen(path_.c_str(), H5F_ACC_RDONLY, access.get()), context()), H5Fclose);
  if (!has_attribute(file_.get(), kAttributeFormat) ||
      read_string_attribute(file_.get(), kAttributeFormat, context()) != kFormat) {
    throw DumpError(context() + ": not an attnlab attention dump (no '" +
                    std::string(kAttributeFormat) + "' attribute equal to " + kFormat + ")");
  }
  schema_version_ = read_int_attribute(file_.get(), kAttributeSchemaVersion, context());
  if (schema_version_ > kSchemaVersion || schema_version_ < 1) {
    throw DumpError(context() + ": schema version " + std::to_string(schema_version_) +
                    "; this attnlab reads versions 1 to " + std::to_string(kSchemaVersion));
  }
  samples_ = read_int_attribute(file_.get(), kAttributeSamples, context());
  heads_ = read_int_attribute(file_.get(), kAttributeHeads, context());
  has_maps_ = read_int_attribute(file_.get(), kAttributeMaps, context()) != 0;
  has_importance_ = read_int_attribute(file_.get(), kAttributeImportance, context()) != 0;
  const auto layer_count = read_int_attribute(file_.get(), kAttributeLayers, context());
  for (std::int64_t layer = 0; layer < layer_count; ++layer) {
    Handle group = open_group(file_.get(), layer_group(layer), context());
    const auto where = context() + ": " + layer_group(layer);
    layers_.push_back(read_layer_info(group.get(), where));
    if (has_maps_) open_maps(group.get(), layers_.back(), where);
  }
  if (schema_version_ < 2) {
    const bool encoder_only =
        has_attribute(file_.get(), kAttributeArch) &&
        read_string_attribute(file_.get(), kAttributeArch, context()) == "encoder";
    derive_roles(layers_, encoder_only);
  }
  steps_ = committed_steps(file_.get(), context());
}

// A layer group's attributes. Schema 1 stored no role (derive_roles fills it in); schemas 1 and 2
// no map kind (their maps are distributions).
LayerInfo DumpFile::read_layer_info(hid_t group, const std::string& where) const {
  LayerInfo info;
  info.index = read_int_attribute(group, kLayerAttributeIndex, context());
  info.kind = read_string_attribute(group, kLayerAttributeKind, context());
  info.causal = read_int_attribute(group, kLayerAttributeCausal, where) != 0;
  info.heads = read_int_attribute(group, kLayerAttributeHeads, context());
  info.query_length = read_int_attribute(group, kLayerAttributeQueryLength, context());
  info.key_length = read_int_attribute(group, kLayerAttributeKeyLength, context());
  if (info.heads < 1 || info.query_length < 1 || info.key_length < 1) {
    throw DumpError(where + ": heads, query and key lengths must be positive, found " +
                    std::to_string(info.heads) + ", " + std::to_string(info.query_length) +
                    ", " + std::to_string(info.key_length));
  }
  if (schema_version_ >= 2) {
    const auto role = read_string_attribute(group, kLayerAttributeRole, context());
    const auto known = std::find_if(kLayerRoles.begin(), kLayerRoles.end(),
                                    [&](const auto& entry) { return role == entry.name; });
    if (known == kLayerRoles.end()) {
      throw DumpError(where + ": unknown role '" + role + "'");
    }
    info.role = known->role;
  }
  if (schema_version_ >= 3) {
    info.map_kind = read_string_attribute(group, kLayerAttributeMapKind, context());
    if (!is_map_kind(info.map_kind)) {
      throw DumpError(where + ": unknown map kind '" + info.map_kind + "'");
    }
  }
  return info;
}

// Opens a layer's maps, kept open for chunk-by-chunk reads, and checks their stored type and
// shape.
void DumpFile::open_maps(hid_t group, const LayerInfo& info, const std::string& where) {
  maps_.push_back(open_dataset(group, kLayerMaps, where));
  Handle stored_type(check(H5Dget_type(maps_.back().get()), where), H5Tclose);
  map_element_bytes_ = H5Tget_size(stored_type.get());
  // Our float16 layout (also h5py's and numpy's): decoded here, not by HDF5's slow path.
  if (!half_type_.valid()) half_type_ = make_float16_type();
  maps_are_half_ = H5Tequal(stored_type.get(), half_type_.get()) > 0;
  // The maps must have the shape the attributes promise, or reads would take part of a map
  // (or run past it) without any error.
  const auto dims = dataset_dims(maps_.back().get(), where + "/" + kLayerMaps);
  const std::vector<hsize_t> expected = {static_cast<hsize_t>(samples_),
                                         static_cast<hsize_t>(info.heads),
                                         static_cast<hsize_t>(info.query_length),
                                         static_cast<hsize_t>(info.key_length)};
  if (dims.size() != 5 || !std::equal(expected.begin(), expected.end(), dims.begin() + 1)) {
    std::string found;
    for (const auto dim : dims) found += (found.empty() ? "" : ", ") + std::to_string(dim);
    throw DumpError(where + "/" + kLayerMaps + ": shape [" + found +
                    "], expected [snapshots, " + std::to_string(samples_) + ", " +
                    std::to_string(info.heads) + ", " + std::to_string(info.query_length) +
                    ", " + std::to_string(info.key_length) + "]");
  }
  // Also bounds Tq * Tk, the size of one map in map(), whenever there is a map to read.
  element_count(maps_.back().get(), dims, where + "/" + kLayerMaps);
}

std::string DumpFile::context() const { return "attention dump " + path_.string(); }

std::string DumpFile::string_attribute(const char* name) const {
  QuietErrors quiet;
  return read_string_attribute(file_.get(), name, context());
}

std::int64_t DumpFile::int_attribute(const char* name) const {
  QuietErrors quiet;
  return read_int_attribute(file_.get(), name, context());
}

bool DumpFile::has(const std::string& dataset_path) const {
  QuietErrors quiet;
  return link_exists(file_.get(), dataset_path);
}

const LayerInfo& DumpFile::layer_info(std::int64_t layer) const {
  if (layer < 0 || layer >= static_cast<std::int64_t>(layers_.size())) {
    throw std::out_of_range(context() + ": layer " + std::to_string(layer) + " of " +
                            std::to_string(layers_.size()));
  }
  return layers_[static_cast<std::size_t>(layer)];
}

std::vector<float> DumpFile::map(std::int64_t layer, std::int64_t snapshot, std::int64_t sample,
                                 std::int64_t head) const {
  const auto& info = layer_info(layer);
  std::vector<float> values(static_cast<std::size_t>(info.query_length * info.key_length));
  map_into(layer, snapshot, sample, head, values.data());
  return values;
}

void DumpFile::map_into(std::int64_t layer, std::int64_t snapshot, std::int64_t sample,
                        std::int64_t head, float* values) const {
  const auto& info = layer_info(layer);
  if (!has_maps_) throw DumpError(context() + ": recorded without maps (record.maps = false)");
  if (snapshot < 0 || snapshot >= snapshots() || sample < 0 || sample >= samples_ || head < 0 ||
      head >= info.heads) {
    throw std::out_of_range(context() + ": map (snapshot " + std::to_string(snapshot) +
                            ", sample " + std::to_string(sample) + ", head " +
                            std::to_string(head) + ") outside [" + std::to_string(snapshots()) +
                            ", " + std::to_string(samples_) + ", " + std::to_string(info.heads) +
                            "]");
  }
  QuietErrors quiet;
  const hid_t dataset = maps_[static_cast<std::size_t>(layer)].get();
  const std::string where = context() + ": " + layer_group(layer) + "/" + kLayerMaps;
  Handle file_space(check(H5Dget_space(dataset), where), H5Sclose);
  const hsize_t start[5] = {static_cast<hsize_t>(snapshot), static_cast<hsize_t>(sample),
                            static_cast<hsize_t>(head), 0, 0};
  const hsize_t count[5] = {1, 1, 1, static_cast<hsize_t>(info.query_length),
                            static_cast<hsize_t>(info.key_length)};
  check_status(
      H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr),
      where);
  Handle memory_space(check(H5Screate_simple(5, count, nullptr), where), H5Sclose);
  const auto size = static_cast<std::size_t>(info.query_length * info.key_length);
  if (maps_are_half_) {
    std::vector<std::uint16_t> halves(size);
    check_status(H5Dread(dataset, half_type_.get(), memory_space.get(), file_space.get(),
                         H5P_DEFAULT, halves.data()),
                 where);
    float16_to_float(halves.data(), values, size);
  } else {
    check_status(H5Dread(dataset, H5T_NATIVE_FLOAT, memory_space.get(), file_space.get(),
                         H5P_DEFAULT, values),
                 where);
  }
}

Array<float> DumpFile::statistic(std::int64_t layer, const std::string& name) const {
  layer_info(layer);
  QuietErrors quiet;
  const std::string path = layer_group(layer) + "/" + name;
  const auto* known = find_statistic(name);
  if (!link_exists(file_.get(), path) && known != nullptr &&
      predates(*known, schema_version_)) {
    // Only the row masses [N,H] are newer than schema 1: shaped like the entropy, which every
    // version stores (so a corrupt head count cannot ask for more than the file holds), and the
    // row masses of the distributions older dumps hold.
    auto masses = statistic(layer, kEntropy);
    std::fill(masses.values.begin(), masses.values.end(), kRowMassBeforeSchema3);
    return masses;
  }
  if (!link_exists(file_.get(), path)) {
    throw DumpError(context() + ": no statistic " + path +
                    (has_importance_ ? "" : " (importance is recorded with record.importance)"));
  }
  Handle dataset = open_dataset(file_.get(), path, context());
  return read_leading<float>(dataset.get(), H5T_NATIVE_FLOAT, snapshots(), context() + ": " + path);
}

Array<std::int32_t> DumpFile::allowed_keys(std::int64_t layer) const {
  layer_info(layer);
  QuietErrors quiet;
  const std::string path = layer_group(layer) + "/" + kLayerAllowedKeys;
  Handle dataset = open_dataset(file_.get(), path, context());
  return read_leading<std::int32_t>(dataset.get(), H5T_NATIVE_INT32, -1, context() + ": " + path);
}

Array<std::int64_t> DumpFile::probe(const std::string& dataset_path) const {
  QuietErrors quiet;
  Handle dataset = open_dataset(file_.get(), dataset_path, context());
  return read_leading<std::int64_t>(dataset.get(), H5T_NATIVE_INT64, -1,
                                    context() + ": " + dataset_path);
}

Array<std::string> DumpFile::probe_text(const std::string& dataset_path) const {
  QuietErrors quiet;
  std::vector<hsize_t> dims;
  Array<std::string> array;
  array.values = read_strings(file_.get(), dataset_path, dims, context());
  array.shape.assign(dims.begin(), dims.end());
  return array;
}

std::vector<double> DumpFile::probe_loss() const {
  QuietErrors quiet;
  Handle dataset = open_dataset(file_.get(), kProbeLoss, context());
  return read_leading<double>(dataset.get(), H5T_NATIVE_DOUBLE, snapshots(),
                              context() + ": " + kProbeLoss)
      .values;
}

}  // namespace attnlab::dump
