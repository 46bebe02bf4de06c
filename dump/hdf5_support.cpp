#include "dump/hdf5_support.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace attnlab::dump {

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.id_;
    closer_ = other.closer_;
    other.id_ = H5I_INVALID_HID;
  }
  return *this;
}

bool Handle::reset() {
  bool closed = true;
  if (id_ >= 0 && closer_ != nullptr) closed = closer_(id_) >= 0;
  id_ = H5I_INVALID_HID;
  return closed;
}

QuietErrors::QuietErrors() {
  H5Eget_auto2(H5E_DEFAULT, &function_, &data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

QuietErrors::~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, function_, data_); }

namespace {

struct ErrorWalk {
  std::string outermost;
  std::string innermost;
  std::string system;  // "error message = '...'" of the file driver, when present
  std::string system_action;  // what failed with it: "file write failed", "unable to lock file"
};

herr_t collect_error(unsigned position, const H5E_error2_t* error, void* data) {
  auto* walk = static_cast<ErrorWalk*>(data);
  const std::string description = error->desc != nullptr ? error->desc : "";
  if (position == 0) walk->outermost = description;
  walk->innermost = description;
  const std::string marker = "error message = '";
  const auto start = description.find(marker);
  if (start != std::string::npos && walk->system.empty()) {
    const auto begin = start + marker.size();
    const auto end = description.find('\'', begin);
    walk->system = description.substr(begin, end == std::string::npos ? end : end - begin);
    walk->system_action = description.substr(0, description.find_first_of(":,"));
  }
  return 0;
}

}  // namespace

std::string last_error() {
  ErrorWalk walk;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &walk);
  if (!walk.system.empty()) {
    // "file write failed: time = ..., errno = 28, ..." -> "file write failed: No space left ..."
    const bool locked = walk.system_action.find("lock") != std::string::npos;
    return walk.system_action + ": " + walk.system +
           (locked ? " (another program, e.g. h5py or h5dump, has the file open)" : "");
  }
  if (walk.innermost.empty()) return "unknown HDF5 error";
  if (walk.outermost.empty() || walk.outermost == walk.innermost) return walk.innermost;
  return walk.outermost + " (" + walk.innermost + ")";
}

hid_t check(hid_t id, const std::string& context) {
  if (id < 0) throw DumpError(context + ": " + last_error());
  return id;
}

void check_status(herr_t status, const std::string& context) {
  if (status < 0) throw DumpError(context + ": " + last_error());
}

namespace {

float decode_half(std::uint16_t half) {
  const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
  const std::uint32_t exponent = (half >> 10) & 0x1fu;
  const std::uint32_t mantissa = half & 0x3ffu;
  std::uint32_t bits = 0;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign != 0 ? -magnitude : magnitude;
  }
  if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // infinity or NaN
  } else {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);  // rebias 15 -> 127
  }
  float value = 0;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

}  // namespace

void float16_to_float(const std::uint16_t* halves, float* values, std::size_t count) {
  static const std::vector<float> table = [] {
    std::vector<float> decoded(1u << 16);
    for (std::uint32_t half = 0; half < decoded.size(); ++half) {
      decoded[half] = decode_half(static_cast<std::uint16_t>(half));
    }
    return decoded;
  }();
  for (std::size_t index = 0; index < count; ++index) values[index] = table[halves[index]];
}

Handle make_float16_type() {
  Handle type(check(H5Tcopy(H5T_IEEE_F32LE), "float16 type"), H5Tclose);
  // Sign bit 15, exponent bits 10-14 (bias 15), mantissa bits 0-9: IEEE 754 binary16.
  check_status(H5Tset_fields(type.get(), /*spos=*/15, /*epos=*/10, /*esize=*/5, /*mpos=*/0,
                             /*msize=*/10),
               "float16 type");
  check_status(H5Tset_size(type.get(), 2), "float16 type");
  check_status(H5Tset_ebias(type.get(), 15), "float16 type");
  return type;
}

Handle open_group(hid_t location, const std::string& path, const std::string& context) {
  return Handle(check(H5Gopen2(location, path.c_str(), H5P_DEFAULT), context + ": group " + path),
                H5Gclose);
}

Handle open_dataset(hid_t location, const std::string& path, const std::string& context) {
  return Handle(
      check(H5Dopen2(location, path.c_str(), H5P_DEFAULT), context + ": dataset " + path),
      H5Dclose);
}

bool link_exists(hid_t location, const std::string& path) {
  // H5Lexists needs every intermediate group to exist, so check the path one level at a time.
  std::string prefix;
  std::istringstream parts(path);
  std::string part;
  while (std::getline(parts, part, '/')) {
    if (part.empty()) continue;
    prefix += prefix.empty() ? part : "/" + part;
    if (H5Lexists(location, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return !prefix.empty();
}

std::vector<hsize_t> dataset_dims(hid_t dataset, const std::string& context) {
  Handle space(check(H5Dget_space(dataset), context), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) throw DumpError(context + ": " + last_error());
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank > 0) check_status(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), context);
  return dims;
}

void write_attribute(hid_t object, const char* name, const std::string& value,
                     const std::string& context) {
  const std::string where = context + ": attribute " + name;
  Handle type(check(H5Tcopy(H5T_C_S1), where), H5Tclose);
  check_status(H5Tset_size(type.get(), H5T_VARIABLE), where);
  check_status(H5Tset_cset(type.get(), H5T_CSET_UTF8), where);
  Handle space(check(H5Screate(H5S_SCALAR), where), H5Sclose);
  if (H5Aexists(object, name) > 0) check_status(H5Adelete(object, name), where);
  Handle attribute(
      check(H5Acreate2(object, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), where),
      H5Aclose);
  const char* text = value.c_str();
  check_status(H5Awrite(attribute.get(), type.get(), &text), where);
}

void write_attribute(hid_t object, const char* name, std::int64_t value,
                     const std::string& context) {
  const std::string where = context + ": attribute " + name;
  Handle space(check(H5Screate(H5S_SCALAR), where), H5Sclose);
  if (H5Aexists(object, name) > 0) check_status(H5Adelete(object, name), where);
  Handle attribute(check(H5Acreate2(object, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT,
                                    H5P_DEFAULT),
                         where),
                   H5Aclose);
  check_status(H5Awrite(attribute.get(), H5T_NATIVE_INT64, &value), where);
}

bool has_attribute(hid_t object, const char* name) { return H5Aexists(object, name) > 0; }

void write_dataset(hid_t location, const std::string& name, hid_t file_type, hid_t memory_type,
                   const std::vector<hsize_t>& shape, const void* values, const std::string& dims,
                   const std::string& doc, int compression, const std::string& context) {
  const std::string where = context + ": dataset " + name;
  Handle space(
      check(H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr), where),
      H5Sclose);
  Handle create(check(H5Pcreate(H5P_DATASET_CREATE), where), H5Pclose);
  hsize_t elements = 1;
  for (const auto extent : shape) elements *= extent;
  if (compression > 0 && elements > 0 && !shape.empty()) {
    // Rows of the first axis per chunk so that a chunk stays near 1 MiB (HDF5's default cache).
    const hsize_t row = elements / shape[0];
    const hsize_t element_size = H5Tget_size(file_type);
    std::vector<hsize_t> chunk = shape;
    chunk[0] =
        std::max<hsize_t>(1, std::min<hsize_t>(shape[0], (1u << 20) / (row * element_size + 1)));
    check_status(H5Pset_chunk(create.get(), static_cast<int>(chunk.size()), chunk.data()), where);
    check_status(H5Pset_shuffle(create.get()), where);
    check_status(H5Pset_deflate(create.get(), static_cast<unsigned>(compression)), where);
  }
  Handle dataset(check(H5Dcreate2(location, name.c_str(), file_type, space.get(), H5P_DEFAULT,
                                  create.get(), H5P_DEFAULT),
                       where),
                 H5Dclose);
  if (elements > 0) {
    check_status(H5Dwrite(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values),
                 where);
  }
  write_attribute(dataset.get(), "dims", dims, where);
  if (!doc.empty()) write_attribute(dataset.get(), "doc", doc, where);
}

namespace {

Handle utf8_string_type(const std::string& where) {
  Handle type(check(H5Tcopy(H5T_C_S1), where), H5Tclose);
  check_status(H5Tset_size(type.get(), H5T_VARIABLE), where);
  check_status(H5Tset_cset(type.get(), H5T_CSET_UTF8), where);
  return type;
}

}  // namespace

void write_strings(hid_t location, const std::string& name, const std::vector<std::string>& values,
                   const std::string& doc, const std::string& context) {
  write_strings(location, name, values, {values.size()}, "name", doc, context);
}

void write_strings(hid_t location, const std::string& name, const std::vector<std::string>& values,
                   const std::vector<hsize_t>& shape, const std::string& dims,
                   const std::string& doc, const std::string& context) {
  const auto type = utf8_string_type(context + ": dataset " + name);
  hsize_t count = 1;
  for (const auto size : shape) count *= size;
  if (count != values.size()) {
    throw std::invalid_argument(context + ": dataset " + name + ": " +
                                std::to_string(values.size()) + " strings for " +
                                std::to_string(count) + " places");
  }
  std::vector<const char*> pointers;
  for (const auto& value : values) pointers.push_back(value.c_str());
  write_dataset(location, name, type.get(), type.get(), shape, pointers.data(), dims, doc,
                /*compression=*/0, context);
}

std::vector<std::string> read_strings(hid_t location, const std::string& path,
                                      std::vector<hsize_t>& shape, const std::string& context) {
  const std::string where = context + ": dataset " + path;
  Handle dataset = open_dataset(location, path, context);
  Handle file_type(check(H5Dget_type(dataset.get()), where), H5Tclose);
  if (H5Tget_class(file_type.get()) != H5T_STRING || H5Tis_variable_str(file_type.get()) <= 0) {
    throw DumpError(where + ": not variable-length strings");
  }
  shape = dataset_dims(dataset.get(), where);
  hsize_t count = 1;
  for (const auto size : shape) count *= size;
  Handle memory_type(check(H5Tcopy(H5T_C_S1), where), H5Tclose);
  check_status(H5Tset_size(memory_type.get(), H5T_VARIABLE), where);
  check_status(H5Tset_cset(memory_type.get(), H5Tget_cset(file_type.get())), where);
  std::vector<char*> pointers(count, nullptr);
  if (count == 0) return {};
  check_status(H5Dread(dataset.get(), memory_type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT,
                       pointers.data()),
               where);
  // HDF5 allocated every string: it frees them all, whatever copying them does.
  Handle space(check(H5Dget_space(dataset.get()), where), H5Sclose);
  struct Reclaim {
    hid_t type, space;
    std::vector<char*>& pointers;
    ~Reclaim() { H5Dvlen_reclaim(type, space, H5P_DEFAULT, pointers.data()); }
  } reclaim{memory_type.get(), space.get(), pointers};
  std::vector<std::string> values;
  values.reserve(pointers.size());
  for (const auto* text : pointers) values.emplace_back(text != nullptr ? text : "");
  return values;
}

std::string read_string_attribute(hid_t object, const char* name, const std::string& context) {
  const std::string where = context + ": attribute " + name;
  Handle attribute(check(H5Aopen(object, name, H5P_DEFAULT), where), H5Aclose);
  Handle file_type(check(H5Aget_type(attribute.get()), where), H5Tclose);
  if (H5Tget_class(file_type.get()) != H5T_STRING) throw DumpError(where + ": not a string");
  if (H5Tis_variable_str(file_type.get()) > 0) {
    Handle memory_type(check(H5Tcopy(H5T_C_S1), where), H5Tclose);
    check_status(H5Tset_size(memory_type.get(), H5T_VARIABLE), where);
    // HDF5 converts no strings between ASCII and UTF-8: read in the file's character set.
    check_status(H5Tset_cset(memory_type.get(), H5Tget_cset(file_type.get())), where);
    char* text = nullptr;
    check_status(H5Aread(attribute.get(), memory_type.get(), &text), where);
    std::string value = text != nullptr ? text : "";
    H5free_memory(text);
    return value;
  }
  // Fixed-length strings (written by other tools) are read as they are, NUL padding dropped.
  const std::size_t size = H5Tget_size(file_type.get());
  std::string value(size, '\0');
  check_status(H5Aread(attribute.get(), file_type.get(), value.data()), where);
  value.resize(value.find('\0') == std::string::npos ? size : value.find('\0'));
  return value;
}

std::int64_t read_int_attribute(hid_t object, const char* name, const std::string& context) {
  const std::string where = context + ": attribute " + name;
  Handle attribute(check(H5Aopen(object, name, H5P_DEFAULT), where), H5Aclose);
  std::int64_t value = 0;
  check_status(H5Aread(attribute.get(), H5T_NATIVE_INT64, &value), where);
  return value;
}

}  // namespace attnlab::dump
