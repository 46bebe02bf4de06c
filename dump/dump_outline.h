// What both dump readers know of an open dump: its shape, its layers and its complete snapshots.
// DumpFile (dump_file.h) reads it from the file; DumpReader (dump_reader.h) from its child
// process. N = complete snapshots.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "dump/dump_schema.h"

namespace attnlab::dump {

struct LayerInfo {
  std::int64_t index = 0;  // forward order among every attention module of the model
  std::string kind;        // "self" | "cross"
  LayerRole role = LayerRole::DecoderSelf;  // stored since schema 2, derived for schema 1
  bool causal = false;
  std::int64_t heads = 0;
  std::int64_t query_length = 0;  // Tq
  std::int64_t key_length = 0;    // Tk
  std::string map_kind = kMapKindDistribution;  // kMapKinds; stored since schema 3
};

class DumpOutline {
 public:
  const std::filesystem::path& path() const { return path_; }
  std::int64_t schema_version() const { return schema_version_; }
  const std::vector<std::int64_t>& steps() const { return steps_; }  // [N]
  std::int64_t snapshots() const { return static_cast<std::int64_t>(steps_.size()); }
  std::int64_t samples() const { return samples_; }
  std::int64_t heads() const { return heads_; }
  bool has_maps() const { return has_maps_; }
  bool has_importance() const { return has_importance_; }
  const std::vector<LayerInfo>& layers() const { return layers_; }

 protected:
  explicit DumpOutline(std::filesystem::path path) : path_(std::move(path)) {}

  std::filesystem::path path_;
  std::int64_t schema_version_ = 0;
  std::int64_t samples_ = 0;
  std::int64_t heads_ = 0;
  bool has_maps_ = false;
  bool has_importance_ = false;
  std::vector<LayerInfo> layers_;
  std::vector<std::int64_t> steps_;
};

}  // namespace attnlab::dump
