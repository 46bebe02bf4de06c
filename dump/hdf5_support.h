// Small helpers over the HDF5 C API shared by the dump writer and reader: owned identifiers,
// errors turned into exceptions with HDF5's own reason, attributes, the float16 file type.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace attnlab::dump {

// A dump that cannot be read or written; the message names the file and HDF5's reason.
class DumpError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Owns one HDF5 identifier and closes it with the matching H5*close function.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : id_(other.id_), closer_(other.closer_) {
    other.id_ = H5I_INVALID_HID;
  }
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now; returns false when HDF5 reported an error (e.g. a failed final write).
  bool reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// Turns off HDF5's printing of error stacks to stderr while it lives: failures surface as
// DumpError with one readable reason instead.
class QuietErrors {
 public:
  QuietErrors();
  ~QuietErrors();
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t function_ = nullptr;
  void* data_ = nullptr;
};

// The most useful line of HDF5's current error stack: the operating system's message when there
// is one ("No space left on device"), else the innermost description.
std::string last_error();

// Return `id` or `status`, or throw DumpError("<context>: <last_error()>") when negative.
hid_t check(hid_t id, const std::string& context);
void check_status(herr_t status, const std::string& context);

// IEEE 754 binary16, little-endian (HDF5 1.10 has no predefined half type; h5py and numpy read
// this one as float16).
Handle make_float16_type();
// Decodes IEEE binary16 values (table lookup). HDF5 1.10 converts a user-defined float16 type bit
// by bit, at about 15 MB/s; reading the raw halves and decoding them here is two orders faster.
void float16_to_float(const std::uint16_t* halves, float* values, std::size_t count);

Handle open_group(hid_t location, const std::string& path, const std::string& context);
Handle open_dataset(hid_t location, const std::string& path, const std::string& context);
bool link_exists(hid_t location, const std::string& path);  // nested paths allowed
std::vector<hsize_t> dataset_dims(hid_t dataset, const std::string& context);

// Scalar attributes: UTF-8 variable-length strings (h5py returns str) and int64.
void write_attribute(hid_t object, const char* name, const std::string& value,
                     const std::string& context);
void write_attribute(hid_t object, const char* name, std::int64_t value,
                     const std::string& context);
bool has_attribute(hid_t object, const char* name);

// A whole fixed-shape dataset written at once, with "dims" and "doc" attributes (h5py: .attrs).
// compression > 0: chunked (chunk = the whole array capped at about 1 MiB along the first axis),
// shuffle + gzip at that level. Empty doc: no doc attribute.
void write_dataset(hid_t location, const std::string& name, hid_t file_type, hid_t memory_type,
                   const std::vector<hsize_t>& shape, const void* values, const std::string& dims,
                   const std::string& doc, int compression, const std::string& context);
// A 1-D dataset of UTF-8 variable-length strings (h5py: .asstr()[()] gives str).
void write_strings(hid_t location, const std::string& name, const std::vector<std::string>& values,
                   const std::string& doc, const std::string& context);
// The same of any shape (`values` in row-major order), with its dimension names.
void write_strings(hid_t location, const std::string& name, const std::vector<std::string>& values,
                   const std::vector<hsize_t>& shape, const std::string& dims,
                   const std::string& doc, const std::string& context);
// A string dataset of any shape, row-major, with its shape; throws DumpError when it holds no
// variable-length strings.
std::vector<std::string> read_strings(hid_t location, const std::string& path,
                                      std::vector<hsize_t>& shape, const std::string& context);
std::string read_string_attribute(hid_t object, const char* name, const std::string& context);
std::int64_t read_int_attribute(hid_t object, const char* name, const std::string& context);

}  // namespace attnlab::dump
