// `attnlab analyze` end to end on a dump written by the real writer: an encoder-decoder layout
// whose heads are built to be next, duplicate, previous (forming at step 10), induction (forming
// at step 20), sink and broad, with cross-attention layers; the files, the labels, the formation
// steps; a layer of signed maps, read as |A| row-normalised and named so; statistics-only dumps;
// and exit 2 with the file named for a missing, non-HDF5, truncated or foreign file and for a
// bad --snapshot.
//
// B = samples, H = heads, S = source length, T = target length.
#include <c10/util/Half.h>
#include <hdf5.h>

#include <algorithm>
#include <cstdlib>
#include <catch2/catch.hpp>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <sstream>
#include <tuple>
#include <utility>

#include "dump/dump_reader.h"
#include "experiments/record/dump_writer.h"
#include "tests/support/run_command.h"
#include "tests/support/files.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;
using testing::read_text;
using testing::run_attnlab;

namespace {

constexpr std::int64_t kSamples = 2, kHeads = 2, kSource = 6, kTarget = 8;
const std::vector<std::int64_t> kSteps = {0, 10, 20};

// Layers in forward order: encoder self, decoder self, cross, decoder self, cross.
struct LayerShape {
  const char* kind;
  dump::LayerRole role;
  bool causal;
  std::int64_t queries, keys;
};
const std::vector<LayerShape> kLayers = {
    {"self", dump::LayerRole::EncoderSelf, false, kSource, kSource},
    {"self", dump::LayerRole::DecoderSelf, true, kTarget, kTarget},
    {"cross", dump::LayerRole::Cross, false, kTarget, kSource},
    {"self", dump::LayerRole::DecoderSelf, true, kTarget, kTarget},
    {"cross", dump::LayerRole::Cross, false, kTarget, kSource}};

std::int32_t allowed(const LayerShape& layer, std::int64_t query) {
  return static_cast<std::int32_t>(layer.causal ? query + 1 : layer.keys);
}

// Row `query` of the map of (layer, head) at snapshot `snapshot`; rows of uniform heads are
// uniform over the allowed keys.
std::vector<float> row(std::int64_t layer, std::int64_t head, std::int64_t snapshot,
                       std::int64_t query) {
  const auto& shape = kLayers[static_cast<std::size_t>(layer)];
  std::vector<float> values(static_cast<std::size_t>(shape.keys), 0.0f);
  const auto one_hot = [&](std::int64_t key) {
    values[static_cast<std::size_t>(key)] = 1.0f;
    return values;
  };
  if (layer == 0 && head == 0) return one_hot(std::min(query + 1, kSource - 1));  // next
  if (layer == 0 && head == 1) return one_hot(query < 3 ? query : query - 3);     // duplicate
  if (layer == 1 && head == 0 && snapshot >= 1)
    return one_hot(std::max<std::int64_t>(query - 1, 0));
  if (layer == 2 && head == 0) return one_hot(0);  // sink
  if (layer == 3 && head == 0 && snapshot >= 2) return one_hot(query < 4 ? query : query - 3);
  if (layer == 3 && head == 1) return one_hot(0);  // sink
  const auto keys = allowed(shape, query);
  for (std::int64_t key = 0; key < keys; ++key) {
    values[static_cast<std::size_t>(key)] = 1.0f / static_cast<float>(keys);
  }
  return values;
}

// A signed layer stores the negated maps (-A): its rows sum to -1 and hold no probability, but
// read as |A| row-normalised they are the distribution layer's.
constexpr std::int64_t kSignedLayer = 1;

record::DumpLayout layout(bool maps, bool with_signed_layer) {
  record::DumpLayout layout;
  layout.samples = kSamples;
  layout.maps = maps;
  layout.importance = false;
  layout.probe_indices = {{kSamples}, {4, 9}};
  // Repeated segments: the source repeats 3 tokens, the target 4.
  layout.probe_source = {{kSamples, kSource}, {5, 6, 7, 5, 6, 7, 8, 9, 10, 8, 9, 10}};
  layout.probe_tokens = {{kSamples, kTarget},
                         {21, 22, 23, 24, 21, 22, 23, 24, 31, 32, 33, 34, 31, 32, 33, 34}};
  layout.probe_targets = layout.probe_tokens;
  layout.text_attributes = {{dump::kAttributeConfig, "seed = 0\n"}, {dump::kAttributeTask, "copy"}};
  layout.int_attributes = {{dump::kAttributeRecordEvery, 10}};
  for (std::size_t index = 0; index < kLayers.size(); ++index) {
    const auto& shape = kLayers[index];
    record::LayerLayout layer{static_cast<std::int64_t>(index),
                              shape.kind,
                              shape.role,
                              shape.causal,
                              kHeads,
                              shape.queries,
                              shape.keys,
                              {}};
    for (std::int64_t head = 0; head < kHeads; ++head) {
      for (std::int64_t query = 0; query < shape.queries; ++query) {
        layer.allowed_keys.push_back(allowed(shape, query));
      }
    }
    if (with_signed_layer && static_cast<std::int64_t>(index) == kSignedLayer) {
      layer.map_kind = dump::kMapKindSigned;
    }
    layout.layers.push_back(layer);
  }
  return layout;
}

// The per-head statistics: zeros, but for markers the analysis must pass through (entropy) or
// classify from when there are no maps (previous_mass of layer 1, head 0).
std::vector<float> statistic(const dump::Statistic& spec, std::int64_t layer) {
  const auto& shape = kLayers[static_cast<std::size_t>(layer)];
  std::size_t size = kHeads;
  if (spec.shape == dump::StatisticShape::HeadQuery)
    size *= static_cast<std::size_t>(shape.queries);
  if (spec.shape == dump::StatisticShape::SampleHeadKey) {
    size *= static_cast<std::size_t>(kSamples * shape.keys);
  }
  std::vector<float> values(size, 0.0f);
  if (std::string(spec.name) == dump::kEntropy) values[0] = 0.25f * static_cast<float>(layer + 1);
  if (std::string(spec.name) == dump::kPreviousMass && layer == 1) values[0] = 0.875f;
  return values;
}

std::filesystem::path write_dump(const std::filesystem::path& directory, bool maps,
                                 bool with_signed_layer = false) {
  const auto path = directory / dump::kFileName;
  const auto dump_layout = layout(maps, with_signed_layer);
  auto writer = record::DumpWriter::create(path, dump_layout);
  for (std::size_t snapshot = 0; snapshot < kSteps.size(); ++snapshot) {
    record::Snapshot data;
    data.step = kSteps[snapshot];
    std::vector<std::vector<std::uint16_t>> half(kLayers.size());  // [B,H,Tq,Tk] per layer
    for (std::size_t layer = 0; layer < kLayers.size(); ++layer) {
      for (std::int64_t sample = 0; sample < kSamples; ++sample) {
        for (std::int64_t head = 0; head < kHeads; ++head) {
          for (std::int64_t query = 0; query < kLayers[layer].queries; ++query) {
            const float sign =
                dump_layout.layers[layer].map_kind == dump::kMapKindSigned ? -1.0f : 1.0f;
            for (const float value : row(static_cast<std::int64_t>(layer), head,
                                         static_cast<std::int64_t>(snapshot), query)) {
              half[layer].push_back(c10::Half(sign * value).x);
            }
          }
        }
      }
      record::LayerSnapshot snapshot_layer;
      snapshot_layer.maps = half[layer].data();
      for (const auto& spec : dump::kStatistics) {
        if (spec.needs_importance) continue;
        snapshot_layer.statistics[spec.name] = statistic(spec, static_cast<std::int64_t>(layer));
      }
      data.layers.push_back(std::move(snapshot_layer));
    }
    writer->append(data);
  }
  writer->close();
  return path;
}

// classes.csv as (snapshot, layer, head) -> label; every row names its layer's map kind and
// what its label was computed on, as `basis` gives them for a layer.
std::map<std::tuple<int, int, int>, std::string> read_classes(
    const std::filesystem::path& path,
    const std::function<std::string(int layer)>& basis = [](int) {
      return "distribution,map";
    }) {
  std::map<std::tuple<int, int, int>, std::string> labels;
  std::istringstream lines(read_text(path));
  std::string line;
  std::getline(lines, line);
  CHECK(line == "snapshot,step,layer,head,label,score,map_kind,computed_on");
  while (std::getline(lines, line)) {
    std::vector<std::string> fields;
    std::istringstream cells(line);
    for (std::string cell; std::getline(cells, cell, ',');) fields.push_back(cell);
    REQUIRE(fields.size() == 8);
    CHECK(fields[6] + "," + fields[7] == basis(std::stoi(fields[2])));
    labels[{std::stoi(fields[0]), std::stoi(fields[2]), std::stoi(fields[3])}] = fields[4];
  }
  return labels;
}

// The distance of the similarity.csv row that starts with `prefix` (snapshot, step, the two heads).
double similarity_distance(const std::string& csv, const std::string& prefix) {
  const auto start = csv.find("\n" + prefix);
  REQUIRE(start != std::string::npos);
  return std::stod(csv.substr(start + 1 + prefix.size()));
}

// The labels every dump of write_dump() must get (snapshot, layer, head).
const std::map<std::tuple<int, int, int>, std::string> kExpectedLabels = {
    {{2, 0, 0}, "next"},      {{2, 0, 1}, "duplicate"}, {{2, 1, 0}, "previous"},
    {{2, 1, 1}, "broad"},     {{2, 2, 0}, "sink"},      {{2, 2, 1}, "broad"},
    {{2, 3, 0}, "induction"}, {{2, 3, 1}, "sink"},      {{2, 4, 0}, "broad"},
    {{2, 4, 1}, "broad"},     {{0, 1, 0}, "broad"},     {{1, 1, 0}, "previous"},
    {{1, 3, 0}, "broad"}};

void check_labels(const std::map<std::tuple<int, int, int>, std::string>& labels) {
  CHECK(labels.size() == kSteps.size() * kLayers.size() * kHeads);
  for (const auto& [key, label] : kExpectedLabels) {
    INFO("snapshot " << std::get<0>(key) << " layer " << std::get<1>(key) << " head "
                     << std::get<2>(key));
    CHECK(labels.at(key) == label);
  }
}

}  // namespace

TEST_CASE("analyze labels the heads of a real dump and finds when they formed",
          "[analysis][heads][cli]") {
  testing::TempDir directory;
  const auto dump_path = write_dump(directory.path(), /*maps=*/true);
  const auto out = directory.path() / "out";
  const auto result =
      run_attnlab({"analyze", dump_path.string(), "--out", out.string()}, directory.path());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);

  check_labels(read_classes(out / "classes.csv"));

  const auto heads = read_text(out / "heads.csv");
  CHECK(heads.rfind("snapshot,step,layer,head,metric,value,map_kind,computed_on\n", 0) == 0);
  CHECK_THAT(heads, Catch::Contains("\n2,20,3,0,prefix_matching,1,distribution,map\n"));
  // Passed through from the file.
  CHECK_THAT(heads, Catch::Contains("\n2,20,1,0,entropy,0.5,distribution,map\n"));
  CHECK_THAT(heads, Catch::Contains("\n2,20,2,0,sink_alpha_0,1,distribution,map\n"));
  // Cross-attention: no tokens.
  CHECK_THAT(heads, Catch::Contains("\n2,20,2,0,prefix_matching,nan,distribution,map\n"));
  CHECK_THAT(result.output, !Catch::Contains("scores on |A_ij|"));

  // The summary: the grid, and when the previous-token and induction heads formed.
  CHECK_THAT(result.output, Catch::Contains("labels at step 20"));
  CHECK_THAT(result.output, Catch::Contains("layer 01 head 0: previous   from step 10"));
  CHECK_THAT(result.output, Catch::Contains("layer 03 head 0: induction  from step 20"));
  CHECK_THAT(result.output, Catch::Contains("written " + (out / "classes.csv").string()));

  // Similarity at the last snapshot: the three uniform cross-attention heads are identical (one
  // redundant group, distance 0); encoder (6x6) and decoder (8x8) maps are not comparable.
  const auto similarity = read_text(out / "similarity.csv");
  CHECK(similarity.rfind("snapshot,step,layer_a,head_a,layer_b,head_b,distance,group_a,group_b\n",
                         0) == 0);
  CHECK(std::count(similarity.begin(), similarity.end(), '\n') == 1 + 10 * 10);
  CHECK_THAT(similarity, Catch::Contains("\n2,20,2,1,4,1,0,0,0\n"));
  CHECK_THAT(similarity, Catch::Contains("\n2,20,0,0,1,0,nan,-1,-1\n"));
  CHECK_THAT(result.output, Catch::Contains("group 0: L2H1 L4H0 L4H1 (mean distance 0.000)"));
  CHECK_THAT(result.output, Catch::Contains("MB/s"));

  // analysis.h5: the same results as arrays, readable with the schema in its header.
  {
    const hid_t file = H5Fopen((out / "analysis.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    REQUIRE(file >= 0);
    const auto dims = [file](const char* name) {
      const hid_t dataset = H5Dopen2(file, name, H5P_DEFAULT);
      const hid_t space = H5Dget_space(dataset);
      std::vector<hsize_t> shape(static_cast<std::size_t>(H5Sget_simple_extent_ndims(space)));
      H5Sget_simple_extent_dims(space, shape.data(), nullptr);
      H5Sclose(space);
      H5Dclose(dataset);
      return shape;
    };
    CHECK(dims("labels") == std::vector<hsize_t>{3, 5, 2});
    CHECK(dims("similarity/distance") == std::vector<hsize_t>{10, 10});
    CHECK(dims("similarity/linkage") == std::vector<hsize_t>{9, 4});
    std::vector<std::int8_t> labels(30);
    const hid_t dataset = H5Dopen2(file, "labels", H5P_DEFAULT);
    REQUIRE(H5Dread(dataset, H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels.data()) >= 0);
    H5Dclose(dataset);
    CHECK(labels[2 * 10 + 3 * 2 + 0] == 0);  // snapshot 2, layer 3, head 0: induction (index 0)
    std::vector<std::int64_t> groups(10);
    const hid_t group = H5Dopen2(file, "similarity/group", H5P_DEFAULT);
    REQUIRE(H5Dread(group, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, groups.data()) >= 0);
    H5Dclose(group);
    CHECK(groups == std::vector<std::int64_t>{-1, -1, -1, -1, -1, 0, -1, -1, 0, 0});
    H5Fclose(file);
  }

  // Figures: score grids, the most typical head's map per label, evolution, similarity.
  for (const char* name : {"grid_induction.svg", "map_induction.svg", "map_previous.svg",
                           "map_sink.svg", "evolution_previous.svg", "similarity.svg"}) {
    INFO(name);
    const auto svg = read_text(out / "figures" / name);
    CHECK(svg.rfind("<svg ", 0) == 0);
    CHECK(svg.find("</svg>") != std::string::npos);
  }
  CHECK_THAT(read_text(out / "figures" / "map_induction.svg"), Catch::Contains("L3H0"));
  CHECK_FALSE(std::filesystem::exists(out / "figures" / "map_next.svg.tmp"));

  // Default output folder: next to the dump; one snapshot only with --snapshot last.
  const auto last =
      run_attnlab({"analyze", dump_path.string(), "--snapshot", "last"}, directory.path());
  REQUIRE(last.exit_code == 0);
  const auto last_labels = read_classes(directory.path() / "analysis" / "classes.csv");
  CHECK(last_labels.size() == kLayers.size() * kHeads);
  CHECK(last_labels.count({2, 3, 0}) == 1);
}

TEST_CASE("analyze reads a layer of signed maps as |A| row-normalised, and says so",
          "[analysis][heads][cli]") {
  testing::TempDir directory;
  const auto dump_path = write_dump(directory.path(), /*maps=*/true, /*with_signed_layer=*/true);
  const auto out = directory.path() / "out";
  const auto result =
      run_attnlab({"analyze", dump_path.string(), "--out", out.string()}, directory.path());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  // -A read as |A| row-normalised is A: the labels of the distribution dump. Read as it is, the
  // signed previous-token head would have P(1) = -1 and no label.
  check_labels(read_classes(out / "classes.csv", [](int layer) {
    return layer == kSignedLayer ? "signed,normalised_abs_map" : "distribution,map";
  }));
  CHECK_THAT(result.output,
             Catch::Contains("layer 01: signed maps: scores on |A_ij| / sum_l |A_il|"));
  CHECK_THAT(result.output, Catch::Contains("layer 01 head 0: previous   from step 10"));

  // Map scores are on the analysed map; the file's output norms and row masses on A as stored.
  const auto heads = read_text(out / "heads.csv");
  CHECK_THAT(heads, Catch::Contains("\n2,20,1,0,offset_1,1,signed,normalised_abs_map\n"));
  CHECK_THAT(heads, Catch::Contains("\n2,20,1,0,entropy,0.5,signed,normalised_abs_map\n"));
  CHECK_THAT(heads, Catch::Contains("\n2,20,1,0,output_norm,0,signed,map\n"));
  CHECK_THAT(heads, Catch::Contains("\n2,20,1,0,row_mass,0,signed,map\n"));
  CHECK_THAT(heads, Catch::Contains("\n2,20,3,0,offset_1,0,distribution,map\n"));
  CHECK_THAT(read_text(out / "figures" / "grid_previous.svg"), Catch::Contains("L1 self (signed)"));
  CHECK_THAT(read_text(out / "figures" / "map_previous.svg"),
             Catch::Contains("|A| row-normalised (signed map)"));

  // Similarity compares the analysed rows: the signed layer's heads are as far apart as the
  // distribution layer's (read as they are, the logarithms of negative weights would be NaN).
  const auto plain = directory.path() / "plain";
  std::filesystem::create_directories(plain);
  const auto plain_dump = write_dump(plain, /*maps=*/true);
  REQUIRE(run_attnlab({"analyze", plain_dump.string(), "--out", (plain / "out").string()},
                      directory.path())
              .exit_code == 0);
  const auto previous_to_broad = [](const std::filesystem::path& file) {
    return similarity_distance(read_text(file), "2,20,1,0,1,1,");
  };
  const double distance = previous_to_broad(out / "similarity.csv");
  CHECK(distance > 0.1);
  const double plain_distance = previous_to_broad(plain / "out" / "similarity.csv");
  CHECK(distance == Catch::Detail::Approx(plain_distance).epsilon(1e-3));
}

TEST_CASE("analyze a dump recorded without maps: labels from the file's statistics",
          "[analysis][heads][cli]") {
  testing::TempDir directory;
  const auto dump_path = write_dump(directory.path(), /*maps=*/false);
  const auto result = run_attnlab({"analyze", dump_path.string()}, directory.path());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::Contains("recorded without maps"));
  const auto labels = read_classes(directory.path() / "analysis" / "classes.csv");
  CHECK(labels.at({0, 1, 0}) == "previous");
  CHECK(labels.at({0, 1, 1}) == "mixed");
}

TEST_CASE("analyze rejects bad files and snapshots with exit 2, naming the file",
          "[analysis][heads][cli]") {
  testing::TempDir directory;
  const auto dump_path = write_dump(directory.path(), /*maps=*/true);
  const auto expect_bad_input = [&](const std::vector<std::string>& arguments,
                                    const std::string& named) {
    const auto result = run_attnlab(arguments, directory.path());
    INFO(result.output);
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.output, Catch::Contains(named));
    CHECK_THAT(result.output, Catch::StartsWith("error: ") || Catch::Contains("\nerror: "));
  };

  expect_bad_input({"analyze", dump_path.string(), "--snapshot", "3"}, dump_path.string());
  expect_bad_input({"analyze", dump_path.string(), "--snapshot", "first"}, "--snapshot 'first'");

  const auto missing = directory.path() / "missing.h5";
  expect_bad_input({"analyze", missing.string()}, missing.string());

  const auto text = directory.path() / "text.h5";
  std::ofstream(text) << "not an HDF5 file";
  expect_bad_input({"analyze", text.string()}, text.string());

  const auto bytes = read_text(dump_path);
  for (const double fraction : {0.05, 0.5, 0.95}) {
    const auto truncated = directory.path() / ("truncated-" + std::to_string(fraction) + ".h5");
    std::ofstream(truncated, std::ios::binary)
        << bytes.substr(0, static_cast<std::size_t>(fraction * static_cast<double>(bytes.size())));
    expect_bad_input({"analyze", truncated.string()}, truncated.string());
  }

  // An HDF5 file of another layout.
  const auto foreign = directory.path() / "foreign.h5";
  {
    const hid_t file = H5Fcreate(foreign.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(file >= 0);
    H5Fclose(file);
  }
  expect_bad_input({"analyze", foreign.string()}, "not an attnlab attention dump");

  // Layer attributes that disagree with the maps' shape (a corrupt or hand-edited file).
  for (const std::int64_t key_length : {std::int64_t{3}, std::int64_t{-5}}) {
    const auto edited = directory.path() / ("key-length" + std::to_string(key_length) + ".h5");
    std::filesystem::copy_file(dump_path, edited);
    const hid_t file = H5Fopen(edited.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(file >= 0);
    const hid_t group = H5Gopen2(file, dump::layer_group(0).c_str(), H5P_DEFAULT);
    const hid_t attribute = H5Aopen(group, dump::kLayerAttributeKeyLength, H5P_DEFAULT);
    REQUIRE(attribute >= 0);
    REQUIRE(H5Awrite(attribute, H5T_NATIVE_INT64, &key_length) >= 0);
    H5Aclose(attribute);
    H5Gclose(group);
    H5Fclose(file);
    expect_bad_input({"analyze", edited.string()}, edited.string());
  }
}

TEST_CASE("analyze --help lists its options", "[analysis][heads][cli]") {
  testing::TempDir directory;
  const auto result = run_attnlab({"analyze", "--help"}, directory.path());
  CHECK(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::Contains("--snapshot") && Catch::Contains("--out"));
}

TEST_CASE("a dump that crashes or hangs the HDF5 library is refused with exit 2",
          "[analyze][errors]") {
  // Found by the dump fuzzer: libhdf5 1.10.8 segfaults on the first file's global heap and loops
  // on the second's metadata. The reader's child process takes the crash, and is stopped after
  // ATTNLAB_DUMP_READ_SECONDS (dump/dump_reader.h).
  ::setenv("ATTNLAB_DUMP_READ_SECONDS", "2", 1);
  for (const auto& [name, reason] :
       {std::pair{"global_heap_memcpy_overlap.h5", "the HDF5 library crashed reading it"},
        std::pair{"metadata_cache_hang.h5", "the HDF5 library did not reply within 2 s"}}) {
    INFO(name);
    testing::TempDir directory;
    const auto damaged =
        std::filesystem::path(ATTNLAB_SOURCE_DIR) / "tests" / "fuzz" / "hdf5_crashes" / name;
    const auto result = run_attnlab(
        {"analyze", damaged.string(), "--out", directory.path().string()}, directory.path());
    INFO(result.output);
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.output,
               Catch::Contains(std::string(name) + ": the file is damaged: " + reason));
    CHECK(std::filesystem::is_empty(directory.path()));
  }
  ::unsetenv("ATTNLAB_DUMP_READ_SECONDS");
}
