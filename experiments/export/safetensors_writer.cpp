#include "experiments/export/safetensors_writer.h"

#include <algorithm>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"

// The format stores little-endian bytes; copying tensor memory as is is only right on such hosts.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors export assumes a little-endian host");

namespace attnlab::exporting {

std::string safetensors_dtype(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return "F32";
    case at::kDouble: return "F64";
    case at::kHalf: return "F16";
    case at::kBFloat16: return "BF16";
    case at::kLong: return "I64";
    case at::kInt: return "I32";
    case at::kShort: return "I16";
    case at::kChar: return "I8";
    case at::kByte: return "U8";
    case at::kBool: return "BOOL";
    default: throw ExportError(std::string("safetensors has no dtype for ") + at::toString(type));
  }
}

std::string safetensors_bytes(const std::vector<NamedTensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  std::vector<const NamedTensor*> ordered;
  std::set<std::string> names;
  for (const auto& named : tensors) {
    if (named.name.empty() || named.name == "__metadata__") {
      throw ExportError("invalid safetensors tensor name '" + named.name + "'");
    }
    if (!names.insert(named.name).second) throw ExportError("duplicate tensor name " + named.name);
    ordered.push_back(&named);
  }
  std::sort(ordered.begin(), ordered.end(),
            [](const NamedTensor* a, const NamedTensor* b) { return a->name < b->name; });

  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto* named : ordered) {
    const auto tensor = named->tensor.detach().to(at::kCPU).contiguous();
    const auto bytes = static_cast<std::size_t>(tensor.numel()) * tensor.element_size();
    const auto begin = data.size();
    data.append(static_cast<const char*>(tensor.data_ptr()), bytes);
    header[named->name] = {{"dtype", safetensors_dtype(tensor.scalar_type())},
                           {"shape", tensor.sizes().vec()},
                           {"data_offsets", nlohmann::json::array({begin, data.size()})}};
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;

  std::string header_text = header.dump();
  // Readers may map the data and view it in place; 8-byte alignment keeps every dtype aligned.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  std::string file(8, '\0');
  const std::uint64_t length = header_text.size();
  std::memcpy(file.data(), &length, sizeof(length));  // little endian (see the static_assert)
  file += header_text;
  file += data;
  return file;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  attnlab::write_file_atomic(path, safetensors_bytes(tensors, metadata));
}

}  // namespace attnlab::exporting
