#include "experiments/export/export_format.h"

#include "experiments/config/config.h"

namespace attnlab::exporting {
namespace {

const std::map<std::string, ExportFormat>& formats() {
  static const std::map<std::string, ExportFormat> known = {
      {"safetensors", {".safetensors", write_safetensors}}};
  return known;
}

}  // namespace

const ExportFormat& export_format(const std::string& name) {
  const auto found = formats().find(name);
  if (found != formats().end()) return found->second;
  std::string names;
  for (const auto& [known, format] : formats()) names += (names.empty() ? "" : ", ") + known;
  throw config::ConfigError("--format '" + name + "' is not a known export format (known: " +
                            names + ")");
}

}  // namespace attnlab::exporting
