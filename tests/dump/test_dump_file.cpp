// The attention dump file: maps and statistics round-trip through the writer and the reader; the
// schema's attributes are present (map kinds included); a resumed writer keeps exactly the
// snapshots it should and brings schema 1 and 2 dumps up to date; a partial snapshot (what a
// crash leaves) is invisible; damaged, foreign and full-disk cases fail with the path in the
// message and leave the completed snapshots readable.
//
// B = samples, H = heads, Tq = queries, Tk = keys.
#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iterator>
#include <random>
#include <algorithm>
#include <array>
#include <tuple>

#include <c10/util/Half.h>

#include "dump/dump_reader.h"
#include "experiments/record/dump_writer.h"
#include "base/atomic_file.h"
#include "tests/support/temp_dir.h"
#include "variants/map_kind.h"

using namespace attnlab;

namespace {

constexpr std::int64_t kSamples = 3, kHeads = 2;

// Two layers: causal self-attention over 4 tokens, cross-attention from 4 queries to 3 keys.
record::DumpLayout small_layout(record::MapDtype dtype, int compression) {
  record::DumpLayout layout;
  layout.samples = kSamples;
  layout.map_dtype = dtype;
  layout.compression = compression;
  layout.probe_indices = {{kSamples}, {7, 2, 5}};
  layout.probe_tokens = {{kSamples, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}};
  layout.probe_targets = {{kSamples, 4}, {2, 3, 4, -100, 6, 7, 8, -100, 10, 11, 12, -100}};
  layout.text_attributes = {{dump::kAttributeConfig, "seed = 0\n"},
                            {dump::kAttributeVariant, "scaled"},
                            {dump::kAttributeTask, "copy"},
                            {dump::kAttributeGitCommit, "abc123"},
                            {dump::kAttributeAttnlabVersion, "0.1.0"}};
  layout.int_attributes = {{dump::kAttributeRecordEvery, 5}};
  record::LayerLayout self{
      0, "self", dump::LayerRole::DecoderSelf, true, kHeads, 4, 4, {1, 2, 3, 4, 1, 2, 3, 4}};
  record::LayerLayout cross{
      1, "cross", dump::LayerRole::Cross, false, kHeads, 4, 3, {3, 3, 3, 3, 3, 3, 3, 3}};
  layout.layers = {self, cross};
  return layout;
}

// Map value of (snapshot, layer, sample, head, query, key): multiples of 1/64, exact in float16.
float map_value(std::int64_t snapshot, std::int64_t layer, std::int64_t sample, std::int64_t head,
                std::int64_t query, std::int64_t key) {
  return static_cast<float>((snapshot * 7 + layer * 5 + sample * 3 + head * 2 + query + key) % 64) /
         64.0f;
}

float statistic_value(std::int64_t snapshot, std::int64_t layer, std::size_t statistic,
                      std::size_t element) {
  return static_cast<float>(snapshot) * 1000.0f + static_cast<float>(layer) * 100.0f +
         static_cast<float>(statistic) + static_cast<float>(element) * 0.25f;
}

std::size_t statistic_size(const dump::Statistic& statistic, const record::LayerLayout& layer) {
  switch (statistic.shape) {
    case dump::StatisticShape::Head: return kHeads;
    case dump::StatisticShape::HeadQuery: return kHeads * layer.query_length;
    case dump::StatisticShape::SampleHeadKey: return kSamples * kHeads * layer.key_length;
  }
  return 0;
}

// Owns the map buffers of one snapshot (float16 bits or float32) and the snapshot itself.
struct SnapshotData {
  std::vector<std::vector<std::uint16_t>> half;
  std::vector<std::vector<float>> single;
  record::Snapshot snapshot;
};

SnapshotData make_snapshot(const record::DumpLayout& layout, std::int64_t index,
                           std::int64_t step) {
  SnapshotData data;
  data.snapshot.step = step;
  data.snapshot.probe_loss = 2.5 - 0.125 * static_cast<double>(index);
  data.half.resize(layout.layers.size());
  data.single.resize(layout.layers.size());
  for (std::size_t layer = 0; layer < layout.layers.size(); ++layer) {
    const auto& shape = layout.layers[layer];
    auto& half = data.half[layer];
    auto& single = data.single[layer];
    for (std::int64_t sample = 0; sample < kSamples; ++sample) {
      for (std::int64_t head = 0; head < kHeads; ++head) {
        for (std::int64_t query = 0; query < shape.query_length; ++query) {
          for (std::int64_t key = 0; key < shape.key_length; ++key) {
            const float value = map_value(index, static_cast<std::int64_t>(layer), sample, head,
                                          query, key);
            single.push_back(value);
            half.push_back(c10::Half(value).x);
          }
        }
      }
    }
    record::LayerSnapshot snapshot_layer;
    snapshot_layer.maps = layout.map_dtype == record::MapDtype::Float16
                              ? static_cast<const void*>(half.data())
                              : static_cast<const void*>(single.data());
    for (std::size_t statistic = 0; statistic < dump::kStatistics.size(); ++statistic) {
      const auto& spec = dump::kStatistics[statistic];
      if (spec.needs_importance && !layout.importance) continue;
      auto& values = snapshot_layer.statistics[spec.name];
      for (std::size_t element = 0; element < statistic_size(spec, shape); ++element) {
        values.push_back(statistic_value(index, static_cast<std::int64_t>(layer), statistic,
                                         element));
      }
    }
    data.snapshot.layers.push_back(std::move(snapshot_layer));
  }
  return data;
}

void append(record::DumpWriter& writer, const record::DumpLayout& layout, std::int64_t index,
            std::int64_t step) {
  const auto data = make_snapshot(layout, index, step);
  writer.append(data.snapshot);
}

// A closed dump of `snapshots` snapshots, steps 0, 5, 10, ...
void write_dump(const std::filesystem::path& path, const record::DumpLayout& layout,
                std::int64_t snapshots) {
  auto writer = record::DumpWriter::create(path, layout);
  for (std::int64_t index = 0; index < snapshots; ++index) append(*writer, layout, index, index * 5);
  writer->close();
}

// Whether `map` is the one written for (snapshot index `index`, layer, sample, head).
bool is_written_map(const std::vector<float>& map, const dump::LayerInfo& info, std::int64_t index,
                    std::int64_t layer, std::int64_t sample, std::int64_t head) {
  if (map.size() != static_cast<std::size_t>(info.query_length * info.key_length)) return false;
  bool equal = true;
  for (std::int64_t query = 0; query < info.query_length; ++query) {
    for (std::int64_t key = 0; key < info.key_length; ++key) {
      equal &= map[static_cast<std::size_t>(query * info.key_length + key)] ==
               map_value(index, layer, sample, head, query, key);
    }
  }
  return equal;
}

// Every map and statistic of snapshot `snapshot` as written for snapshot index `index`; without
// `row_masses_written` (a snapshot a schema 1 or 2 writer made) the row masses are those readers
// give such dumps.
void check_snapshot(const dump::DumpReader& reader, std::int64_t snapshot, std::int64_t index,
                    bool row_masses_written = true) {
  for (std::int64_t layer = 0; layer < 2; ++layer) {
    const auto& info = reader.layers()[static_cast<std::size_t>(layer)];
    for (std::int64_t sample = 0; sample < kSamples; ++sample) {
      for (std::int64_t head = 0; head < kHeads; ++head) {
        INFO("layer " << layer << " snapshot " << snapshot << " sample " << sample << " head "
                      << head);
        CHECK(is_written_map(reader.map(layer, snapshot, sample, head), info, index, layer,
                             sample, head));
      }
    }
    for (std::size_t statistic = 0; statistic < dump::kStatistics.size(); ++statistic) {
      const auto array = reader.statistic(layer, dump::kStatistics[statistic].name);
      REQUIRE(array.shape[0] == reader.snapshots());
      const auto row = array.values.size() / static_cast<std::size_t>(array.shape[0]);
      const bool older = dump::kStatistics[statistic].since_schema > 1 && !row_masses_written;
      bool equal = true;
      for (std::size_t element = 0; element < row; ++element) {
        equal &= array.values[static_cast<std::size_t>(snapshot) * row + element] ==
                 (older ? dump::kRowMassBeforeSchema3
                        : statistic_value(index, layer, statistic, element));
      }
      INFO(dump::kStatistics[statistic].name);
      CHECK(equal);
    }
  }
}

std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Makes the dump at `path` what a writer of schema `version` (1 or 2) left: no map kinds and no
// row masses, and for schema 1 no roles. The row masses of the layers in `kept` stay, as an
// upgrade that crashed before its version was written leaves them.
void make_older_schema(const std::filesystem::path& path, std::int64_t version,
                       const std::vector<std::int64_t>& kept = {}) {
  dump::Handle file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
  REQUIRE(file.valid());
  for (std::int64_t layer = 0; layer < 2; ++layer) {
    dump::Handle group = dump::open_group(file.get(), dump::layer_group(layer), "test");
    REQUIRE(H5Adelete(group.get(), dump::kLayerAttributeMapKind) >= 0);
    if (version < 2) REQUIRE(H5Adelete(group.get(), dump::kLayerAttributeRole) >= 0);
    if (std::find(kept.begin(), kept.end(), layer) != kept.end()) continue;
    for (const auto* name : {dump::kRowMass, dump::kRowAbsMass}) {
      REQUIRE(H5Ldelete(group.get(), name, H5P_DEFAULT) >= 0);
    }
  }
  dump::write_attribute(file.get(), dump::kAttributeSchemaVersion, version, "test");
}

// Continues the dump of snapshots at steps 0 and 5 (any schema version) with snapshot index 2 at
// step 10; the dump is then of the current version.
void continue_at_step_10(const std::filesystem::path& path, const record::DumpLayout& layout) {
  {
    auto writer = record::DumpWriter::resume(path, layout, 5);
    append(*writer, layout, 2, 10);
    writer->close();
  }
  const dump::DumpReader reader(path);
  CHECK(reader.schema_version() == dump::kSchemaVersion);
  CHECK(reader.steps() == std::vector<std::int64_t>({0, 5, 10}));
}

// Appends one more row to a snapshot-axis dataset without committing it, as a crash between
// the two flushes of a snapshot leaves the file.
void extend_without_commit(const std::filesystem::path& path, const std::string& dataset) {
  dump::QuietErrors quiet;
  dump::Handle file(dump::check(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), "open"),
                    H5Fclose);
  auto handle = dump::open_dataset(file.get(), dataset, "test");
  auto dims = dump::dataset_dims(handle.get(), "test");
  dims[0] += 1;
  dump::check_status(H5Dset_extent(handle.get(), dims.data()), "extend");
}

}  // namespace

TEST_CASE("maps read ahead through the reader's child are the maps asked for, in any order",
          "[record][dump]") {
  // DumpReader reads a run of maps ahead once two requests show a walk (heads fastest or samples
  // fastest); every order below must still get exactly the map it asks for.
  testing::TempDir directory;
  const auto layout = small_layout(record::MapDtype::Float32, 0);
  const auto path = directory.path() / dump::kFileName;
  write_dump(path, layout, 2);
  using Request = std::array<std::int64_t, 4>;  // layer, snapshot, sample, head
  std::vector<Request> heads_fastest, samples_fastest;
  for (std::int64_t layer = 0; layer < 2; ++layer) {
    for (std::int64_t snapshot = 0; snapshot < 2; ++snapshot) {
      for (std::int64_t sample = 0; sample < kSamples; ++sample) {
        for (std::int64_t head = 0; head < kHeads; ++head) {
          heads_fastest.push_back({layer, snapshot, sample, head});
        }
      }
      for (std::int64_t head = 0; head < kHeads; ++head) {
        for (std::int64_t sample = 0; sample < kSamples; ++sample) {
          samples_fastest.push_back({layer, snapshot, sample, head});
        }
      }
    }
  }
  auto backwards = heads_fastest;
  std::reverse(backwards.begin(), backwards.end());
  auto shuffled = heads_fastest;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(7));
  // A walk that breaks off half way, then jumps back into the run it had started.
  std::vector<Request> broken(samples_fastest.begin(), samples_fastest.begin() + 4);
  broken.push_back({1, 1, 2, 1});
  broken.push_back(samples_fastest[2]);
  broken.push_back(samples_fastest[3]);
  for (const auto* order : {&heads_fastest, &samples_fastest, &backwards, &shuffled, &broken}) {
    const dump::DumpReader reader(path);
    for (const auto& [layer, snapshot, sample, head] : *order) {
      INFO("layer " << layer << " snapshot " << snapshot << " sample " << sample << " head "
                    << head);
      CHECK(is_written_map(reader.map(layer, snapshot, sample, head),
                           reader.layers()[static_cast<std::size_t>(layer)], snapshot, layer,
                           sample, head));
    }
    // Out of bounds stays an error, wherever a run stands.
    CHECK_THROWS_AS(reader.map(0, 0, kSamples, 0), std::out_of_range);
    CHECK_THROWS_AS(reader.map(0, 0, 0, kHeads), std::out_of_range);
    CHECK_THROWS_AS(reader.map(2, 0, 0, 0), std::out_of_range);
    CHECK_THROWS_AS(reader.map(0, 2, 0, 0), std::out_of_range);
  }
}

TEST_CASE("maps and statistics round-trip through the dump", "[record][dump]") {
  testing::TempDir directory;
  const auto dtype = GENERATE(record::MapDtype::Float16, record::MapDtype::Float32);
  const int compression = GENERATE(0, 4);
  const auto layout = small_layout(dtype, compression);
  const auto path = directory.path() / dump::kFileName;
  {
    auto writer = record::DumpWriter::create(path, layout);
    for (std::int64_t index = 0; index < 3; ++index) append(*writer, layout, index, index * 5);
    CHECK(writer->steps() == std::vector<std::int64_t>({0, 5, 10}));
    CHECK(writer->map_bytes_written() ==
          3u * kSamples * kHeads * (16 + 12) * record::map_dtype_size(dtype));
    writer->close();
  }
  const dump::DumpReader reader(path);
  CHECK(reader.steps() == std::vector<std::int64_t>({0, 5, 10}));
  REQUIRE(reader.layers().size() == 2);
  CHECK(reader.layers()[0].role == dump::LayerRole::DecoderSelf);
  CHECK(reader.layers()[1].kind == "cross");
  CHECK(reader.layers()[1].role == dump::LayerRole::Cross);
  CHECK(reader.layers()[1].key_length == 3);
  CHECK_FALSE(reader.layers()[1].causal);
  for (std::int64_t snapshot = 0; snapshot < 3; ++snapshot) {
    check_snapshot(reader, snapshot, snapshot);
  }
  CHECK(reader.probe_loss() == std::vector<double>({2.5, 2.375, 2.25}));
  CHECK(reader.allowed_keys(0).values == std::vector<std::int32_t>({1, 2, 3, 4, 1, 2, 3, 4}));
  CHECK(reader.probe(dump::kProbeTokens).shape == std::vector<std::int64_t>({kSamples, 4}));
  CHECK(reader.probe(dump::kProbeTargets).values[3] == -100);
  CHECK(reader.probe(dump::kProbeIndices).values == std::vector<std::int64_t>({7, 2, 5}));
  CHECK_FALSE(reader.has(dump::kProbeSource));
  CHECK_THROWS_AS(reader.map(0, 3, 0, 0), std::out_of_range);
}

TEST_CASE("the dump carries the schema's attributes", "[record][dump]") {
  testing::TempDir directory;
  auto layout = small_layout(record::MapDtype::Float16, 1);
  layout.layers[1].map_kind = dump::kMapKindSigned;
  const auto path = directory.path() / dump::kFileName;
  record::DumpWriter::create(path, layout)->close();
  const dump::DumpReader reader(path);
  CHECK(reader.schema_version() == dump::kSchemaVersion);
  CHECK(reader.string_attribute(dump::kAttributeFormat) == dump::kFormat);
  CHECK(reader.string_attribute(dump::kAttributeConfig) == "seed = 0\n");
  CHECK(reader.string_attribute(dump::kAttributeVariant) == "scaled");
  CHECK(reader.string_attribute(dump::kAttributeTask) == "copy");
  CHECK(reader.string_attribute(dump::kAttributeGitCommit) == "abc123");
  CHECK(reader.string_attribute(dump::kAttributeAttnlabVersion) == "0.1.0");
  CHECK(reader.string_attribute(dump::kAttributeMapDtype) == "float16");
  CHECK(reader.int_attribute(dump::kAttributeLayers) == 2);
  CHECK(reader.int_attribute(dump::kAttributeHeads) == kHeads);
  CHECK(reader.int_attribute(dump::kAttributeSamples) == kSamples);
  CHECK(reader.int_attribute(dump::kAttributeCompression) == 1);
  CHECK(reader.int_attribute(dump::kAttributeRecordEvery) == 5);
  CHECK(reader.int_attribute(dump::kAttributeMaps) == 1);
  CHECK(reader.int_attribute(dump::kAttributeImportance) == 1);
  CHECK(reader.snapshots() == 0);
  CHECK(reader.layers()[0].map_kind == "distribution");
  CHECK(reader.layers()[1].map_kind == "signed");

  // Every array names its dimensions; the statistics also say what they are.
  dump::Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  REQUIRE(file.valid());
  // The roles and map kinds are plain strings, for h5py.
  for (const auto& [layer, role, map_kind] : {std::tuple{0, "decoder_self", "distribution"},
                                              std::tuple{1, "cross", "signed"}}) {
    auto group = dump::open_group(file.get(), dump::layer_group(layer), "test");
    CHECK(dump::read_string_attribute(group.get(), dump::kLayerAttributeRole, "test") == role);
    CHECK(dump::read_string_attribute(group.get(), dump::kLayerAttributeMapKind, "test") ==
          map_kind);
  }
  auto maps = dump::open_dataset(file.get(), dump::layer_group(0) + "/" + dump::kLayerMaps, "test");
  CHECK(dump::read_string_attribute(maps.get(), dump::kDatasetAttributeDims, "test") ==
        dump::kMapDims);
  for (const auto& statistic : dump::kStatistics) {
    INFO(statistic.name);
    auto dataset =
        dump::open_dataset(file.get(), dump::layer_group(1) + "/" + statistic.name, "test");
    CHECK(dump::read_string_attribute(dataset.get(), dump::kDatasetAttributeDims, "test") ==
          dump::statistic_dims(statistic.shape));
    CHECK(dump::read_string_attribute(dataset.get(), dump::kDatasetAttributeDoc, "test") ==
          statistic.doc);
  }
}

TEST_CASE("statistics only: no maps, no importance", "[record][dump]") {
  testing::TempDir directory;
  auto layout = small_layout(record::MapDtype::Float16, 0);
  layout.maps = false;
  layout.importance = false;
  const auto path = directory.path() / dump::kFileName;
  write_dump(path, layout, 1);
  const dump::DumpReader reader(path);
  CHECK(reader.snapshots() == 1);
  CHECK_FALSE(reader.has_maps());
  CHECK_FALSE(reader.has(dump::layer_group(0) + "/" + dump::kLayerMaps));
  CHECK_FALSE(reader.has(dump::layer_group(0) + "/" + dump::kImportance));
  CHECK(reader.statistic(0, dump::kEntropy).shape == std::vector<std::int64_t>({1, kHeads}));
  CHECK_THROWS_AS(reader.map(0, 0, 0, 0), dump::DumpError);
  CHECK_THROWS_AS(reader.statistic(0, dump::kImportance), dump::DumpError);
}

TEST_CASE("a partial snapshot is invisible, and a resumed writer drops it", "[record][dump]") {
  testing::TempDir directory;
  const auto layout = small_layout(record::MapDtype::Float16, 1);
  const auto path = directory.path() / dump::kFileName;
  write_dump(path, layout, 4);
  // A crash after the maps of a fifth snapshot reached the file, before its step did; and one in
  // the commit itself, after /steps grew but before its value was written (fill value -1).
  extend_without_commit(path, dump::layer_group(1) + "/" + dump::kLayerMaps);
  extend_without_commit(path, dump::kProbeLoss);
  CHECK(dump::DumpReader(path).steps() == std::vector<std::int64_t>({0, 5, 10, 15}));
  extend_without_commit(path, dump::kSteps);
  CHECK(dump::DumpReader(path).steps() == std::vector<std::int64_t>({0, 5, 10, 15}));

  SECTION("resuming from step 15 keeps all four and appends after them") {
    auto writer = record::DumpWriter::resume(path, layout, 15);
    CHECK(writer->steps() == std::vector<std::int64_t>({0, 5, 10, 15}));
    append(*writer, layout, 4, 20);
    writer->close();
    const dump::DumpReader reader(path);
    CHECK(reader.steps() == std::vector<std::int64_t>({0, 5, 10, 15, 20}));
    check_snapshot(reader, 4, 4);
    check_snapshot(reader, 1, 1);
  }
  SECTION("resuming from step 7 (an earlier checkpoint) drops 10 and 15, then continues") {
    auto writer = record::DumpWriter::resume(path, layout, 7);
    CHECK(writer->steps() == std::vector<std::int64_t>({0, 5}));
    append(*writer, layout, 7, 10);
    writer->close();
    const dump::DumpReader reader(path);
    CHECK(reader.steps() == std::vector<std::int64_t>({0, 5, 10}));
    check_snapshot(reader, 1, 1);
    check_snapshot(reader, 2, 7);  // the new snapshot, not the dropped one
    CHECK(reader.statistic(1, dump::kValueNorms).shape[0] == 3);
  }
}

TEST_CASE("the map kinds of the dump are the variants' names for them", "[record][dump]") {
  const std::array<variants::MapKind, 4> kinds = {
      variants::MapKind::Distribution, variants::MapKind::Partial,
      variants::MapKind::Unnormalised, variants::MapKind::Signed};
  for (std::size_t index = 0; index < kinds.size(); ++index) {
    CHECK(std::string(variants::map_kind_name(kinds[index])) == dump::kMapKinds[index]);
    CHECK(dump::is_map_kind(variants::map_kind_name(kinds[index])));
  }
  CHECK_FALSE(dump::is_map_kind("probabilities"));
  testing::TempDir directory;
  auto layout = small_layout(record::MapDtype::Float16, 0);
  layout.layers[0].map_kind = "probabilities";
  CHECK_THROWS_AS(record::DumpWriter::create(directory.path() / dump::kFileName, layout),
                  std::invalid_argument);
}

TEST_CASE("a resumed run continues a schema 1 dump and stores its roles", "[record][dump]") {
  testing::TempDir directory;
  const auto layout = small_layout(record::MapDtype::Float16, 1);
  const auto path = directory.path() / dump::kFileName;
  write_dump(path, layout, 2);
  make_older_schema(path, 1);
  REQUIRE(dump::DumpReader(path).schema_version() == 1);
  continue_at_step_10(path, layout);
  const dump::DumpReader reader(path);
  CHECK(reader.layers()[0].role == dump::LayerRole::DecoderSelf);
  CHECK(reader.layers()[1].role == dump::LayerRole::Cross);
  CHECK(reader.layers()[1].map_kind == dump::kMapKindDistribution);
  check_snapshot(reader, 0, 0, /*row_masses_written=*/false);
  check_snapshot(reader, 1, 1, /*row_masses_written=*/false);
  check_snapshot(reader, 2, 2);
}

TEST_CASE("a schema 2 dump reads as distributions, and a resumed run gives it map kinds",
          "[record][dump]") {
  testing::TempDir directory;
  const auto layout = small_layout(record::MapDtype::Float32, 0);
  const auto path = directory.path() / dump::kFileName;
  write_dump(path, layout, 2);
  // Layer 1 keeps its row masses: an upgrade that crashed before the version left them.
  make_older_schema(path, 2, /*kept=*/{1});
  {
    const dump::DumpReader reader(path);
    REQUIRE(reader.schema_version() == 2);
    CHECK(reader.layers()[0].map_kind == dump::kMapKindDistribution);
    CHECK_FALSE(reader.has(dump::layer_group(0) + "/" + dump::kRowMass));
    const auto row_mass = reader.statistic(0, dump::kRowMass);
    CHECK(row_mass.shape == std::vector<std::int64_t>({2, kHeads}));
    CHECK(row_mass.values == std::vector<float>(2 * kHeads, 1.0f));
  }
  // A run of another map kind cannot continue it: its maps are distributions.
  auto sigmoid = layout;
  sigmoid.layers[0].map_kind = dump::kMapKindUnnormalised;
  const auto before = file_bytes(path);
  try {
    record::DumpWriter::resume(path, sigmoid, 100);
    FAIL("continued a dump of distributions with unnormalised maps");
  } catch (const attnlab::IoError& error) {
    CHECK_THAT(error.what(), Catch::Contains("map kind of layers/00"));
  }
  CHECK(file_bytes(path) == before);
  continue_at_step_10(path, layout);
  const dump::DumpReader reader(path);
  CHECK(reader.layers()[0].map_kind == dump::kMapKindDistribution);
  CHECK(reader.has(dump::layer_group(0) + "/" + dump::kRowMass));
  check_snapshot(reader, 2, 2);
  // The earlier snapshots' row masses: 1 where the upgrade added them, as they were where a
  // crashed upgrade had.
  const auto position = static_cast<std::size_t>(dump::find_statistic(dump::kRowMass) -
                                                 dump::kStatistics.data());
  for (std::int64_t snapshot = 0; snapshot < 2; ++snapshot) {
    for (std::int64_t head = 0; head < kHeads; ++head) {
      const auto at = static_cast<std::size_t>(snapshot * kHeads + head);
      CHECK(reader.statistic(0, dump::kRowMass).values[at] == 1.0f);
      CHECK(reader.statistic(1, dump::kRowMass).values[at] ==
            statistic_value(snapshot, 1, position, static_cast<std::size_t>(head)));
    }
  }
  dump::Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  auto group = dump::open_group(file.get(), dump::layer_group(1), "test");
  CHECK(dump::read_string_attribute(group.get(), dump::kLayerAttributeMapKind, "test") ==
        "distribution");
}

TEST_CASE("a dump is never overwritten, and a foreign or damaged one is not continued",
          "[record][dump]") {
  testing::TempDir directory;
  const auto layout = small_layout(record::MapDtype::Float16, 1);
  const auto path = directory.path() / dump::kFileName;
  write_dump(path, layout, 1);
  const auto before = file_bytes(path);
  try {
    record::DumpWriter::create(path, layout);
    FAIL("created over an existing dump");
  } catch (const attnlab::IoError& error) {
    CHECK_THAT(error.what(), Catch::Contains(path.string()) && Catch::Contains("already exists"));
  }

  auto other = layout;
  other.layers[0].query_length = 5;
  other.layers[0].allowed_keys.assign(10, 1);
  try {
    record::DumpWriter::resume(path, other, 100);
    FAIL("continued a dump of another shape");
  } catch (const attnlab::IoError& error) {
    CHECK_THAT(error.what(), Catch::Contains(path.string()) && Catch::Contains("layers/00"));
  }
  auto other_probe = layout;
  other_probe.probe_tokens.values[0] = 99;
  CHECK_THROWS_AS(record::DumpWriter::resume(path, other_probe, 100), attnlab::IoError);
  auto other_role = layout;
  other_role.layers[0].role = dump::LayerRole::EncoderSelf;
  CHECK_THROWS_AS(record::DumpWriter::resume(path, other_role, 100), attnlab::IoError);
  auto other_kind = layout;
  other_kind.layers[1].map_kind = dump::kMapKindSigned;
  CHECK_THROWS_AS(record::DumpWriter::resume(path, other_kind, 100), attnlab::IoError);
  CHECK(file_bytes(path) == before);

  const auto garbage = directory.path() / "garbage.h5";
  std::ofstream(garbage) << "not an HDF5 file";
  try {
    record::DumpWriter::resume(garbage, layout, 100);
    FAIL("continued a file that is not HDF5");
  } catch (const attnlab::IoError& error) {
    CHECK_THAT(error.what(), Catch::Contains(garbage.string()) && Catch::Contains("left as it is"));
  }
  try {
    const dump::DumpReader reader(garbage);
    FAIL("read a file that is not HDF5");
  } catch (const dump::DumpError& error) {
    CHECK_THAT(error.what(), Catch::Contains(garbage.string()));
  }
  CHECK_THROWS_AS(dump::DumpReader(directory.path() / "missing.h5"), dump::DumpError);
}

TEST_CASE("a full disk is reported with the path, and earlier snapshots stay readable",
          "[record][dump]") {
  testing::TempDir directory;
  const auto layout = small_layout(record::MapDtype::Float32, 0);
  const auto path = directory.path() / dump::kFileName;
  int pipe_ends[2];
  REQUIRE(::pipe(pipe_ends) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The child only runs the HDF5 writer. A file size limit makes write() fail with EFBIG once
    // the dump outgrows it, the way a full disk fails it with ENOSPC.
    ::close(pipe_ends[0]);
    std::signal(SIGXFSZ, SIG_IGN);
    std::string message = "no error";
    int code = 3;
    try {
      auto writer = record::DumpWriter::create(path, layout);
      append(*writer, layout, 0, 0);
      append(*writer, layout, 1, 5);
      const rlimit limit{writer->file_bytes() + 4096, writer->file_bytes() + 4096};
      ::setrlimit(RLIMIT_FSIZE, &limit);
      for (std::int64_t index = 2; index < 100; ++index) append(*writer, layout, index, index * 5);
    } catch (const attnlab::IoError& error) {
      message = error.what();
      code = 0;
    } catch (const std::exception& error) {
      message = std::string("unexpected: ") + error.what();
    }
    (void)!::write(pipe_ends[1], message.data(), message.size());
    ::_exit(code);
  }
  ::close(pipe_ends[1]);
  std::string message;
  char buffer[512];
  ssize_t count = 0;
  while ((count = ::read(pipe_ends[0], buffer, sizeof(buffer))) > 0) message.append(buffer, count);
  ::close(pipe_ends[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  INFO(message);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_THAT(message, Catch::Contains(path.string()) && Catch::Contains("File too large"));

  const dump::DumpReader reader(path);
  REQUIRE(reader.snapshots() >= 2);
  CHECK(reader.steps()[1] == 5);
  for (std::int64_t snapshot = 0; snapshot < reader.snapshots(); ++snapshot) {
    check_snapshot(reader, snapshot, snapshot);
  }
}
