// `attnlab export`: a finished run's checkpoint as a file PyTorch users load without attnlab. The
// weights under the documented names (tensor_names.h) with metadata (format, versions, the
// resolved config, architecture, checkpoint, step), the resolved config as config.toml next to
// them and, when asked, a probe (probe.h) that scripts/reference.py checks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace attnlab::exporting {

// Version of the export's layout, the model file's and the probe's: the naming contract and the
// metadata keys. Bump it when either changes incompatibly, so readers can refuse files they do
// not understand. 2: key/value projections of variant.kv_heads heads, the parameters of the
// QK-norm, normaliser, mixer and gate stages, and probe maps of any kind (`map_kinds`); a reader
// of version 1 would compute those models wrongly or take a signed map for a distribution.
inline constexpr const char* kExportFormatVersion = "2";

struct ExportRequest {
  std::filesystem::path run;
  std::string format;                // export_format.h
  std::string checkpoint = "best";   // best, latest or a file (find_checkpoint)
  std::filesystem::path out;         // empty: <run>/export/model<extension>
  std::int64_t probe = 0;            // validation examples in the probe; 0: no probe
};

struct ExportResult {
  std::size_t tensors = 0;
  std::filesystem::path checkpoint;
  std::int64_t step = 0;
  std::filesystem::path model_file;
  std::filesystem::path config_file;
  std::filesystem::path probe_file;  // empty without a probe
};

// Always on the CPU, with the run's config as trained (no overrides). Throws config::ConfigError
// for a bad format or probe size before anything is written, CheckpointError for a missing or
// mismatched checkpoint.
ExportResult export_run(const ExportRequest& request);

}  // namespace attnlab::exporting
