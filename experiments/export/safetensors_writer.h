// Writes the safetensors format (https://github.com/huggingface/safetensors), which PyTorch users
// load without attnlab: an 8-byte little-endian header length N, N bytes of JSON header
// {"<name>": {"dtype", "shape", "data_offsets": [begin, end]}, ..., "__metadata__": {string:
// string}}, padded with spaces to a multiple of 8, then the tensors' raw little-endian bytes
// (offsets are relative to the end of the header). Written by hand: the format is that small.
#pragma once

#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace attnlab::exporting {

// Bad input to an export: an unsupported dtype, a duplicate name, a module the naming contract
// does not know.
class ExportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct NamedTensor {
  std::string name;
  at::Tensor tensor;  // any device and layout; written as a contiguous CPU copy
};

// The whole file's bytes. Tensors are laid out in name order (the header's JSON keys are sorted
// too), so the same tensors always give the same file.
std::string safetensors_bytes(const std::vector<NamedTensor>& tensors,
                              const std::map<std::string, std::string>& metadata);

// Writes atomically (temporary file, fsync, rename): a reader never sees half a file.
void write_safetensors(const std::filesystem::path& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata);

// The safetensors dtype name of a tensor ("F32", "I64", ...); throws ExportError otherwise.
std::string safetensors_dtype(at::ScalarType type);

}  // namespace attnlab::exporting
