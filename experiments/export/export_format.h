// The file formats `attnlab export --format` writes, by name, each with its default file
// extension. One writer serves the weights and the probe.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "experiments/export/safetensors_writer.h"

namespace attnlab::exporting {

using TensorFileWriter = std::function<void(const std::filesystem::path& path,
                                            const std::vector<NamedTensor>& tensors,
                                            const std::map<std::string, std::string>& metadata)>;

struct ExportFormat {
  std::string extension;  // ".safetensors"
  TensorFileWriter write;
};

// Throws config::ConfigError naming the known formats when `name` is none of them.
const ExportFormat& export_format(const std::string& name);

}  // namespace attnlab::exporting
