// The safetensors bytes as the format defines them (length prefix, aligned JSON header, contiguous
// data) and the tensor naming contract, without Python (the slow test_pytorch_reference reads
// real exports with scripts/reference.py).
#include <catch2/catch.hpp>

#include <cstring>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "experiments/export/safetensors_writer.h"
#include "experiments/export/tensor_names.h"
#include "experiments/model/model_config.h"
#include "experiments/run/schema.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;

TEST_CASE("safetensors bytes follow the format", "[export]") {
  const auto floats = torch::arange(6, torch::kFloat).view({2, 3});
  const auto longs = torch::tensor({std::int64_t{-1}, std::int64_t{1} << 40});
  const auto flags = torch::tensor({true, false, true});
  const auto scalar = torch::tensor(2.5, torch::kDouble);
  const auto transposed = floats.t();  // not contiguous: written as its logical [3,2] values
  const auto bytes = exporting::safetensors_bytes(
      {{"b.floats", floats}, {"a.longs", longs}, {"c.flags", flags}, {"d.scalar", scalar},
       {"e.transposed", transposed}},
      {{"config", "x = 1\n"}});

  std::uint64_t length = 0;
  std::memcpy(&length, bytes.data(), 8);
  REQUIRE(8 + length <= bytes.size());
  CHECK(length % 8 == 0);  // data starts 8-byte aligned
  const auto header = nlohmann::json::parse(bytes.substr(8, length));
  CHECK(header["__metadata__"]["config"] == "x = 1\n");
  CHECK(header["b.floats"]["dtype"] == "F32");
  CHECK(header["b.floats"]["shape"] == nlohmann::json({2, 3}));
  CHECK(header["a.longs"]["dtype"] == "I64");
  CHECK(header["c.flags"]["dtype"] == "BOOL");
  CHECK(header["d.scalar"]["shape"] == nlohmann::json::array());
  CHECK(header["e.transposed"]["shape"] == nlohmann::json({3, 2}));

  // Offsets: in name order, contiguous from 0 to the end of the file.
  const std::string data = bytes.substr(8 + length);
  std::uint64_t expected_begin = 0;
  for (const auto* name : {"a.longs", "b.floats", "c.flags", "d.scalar", "e.transposed"}) {
    const auto offsets = header[name]["data_offsets"];
    CHECK(offsets[0].get<std::uint64_t>() == expected_begin);
    expected_begin = offsets[1].get<std::uint64_t>();
  }
  CHECK(expected_begin == data.size());
  const auto at = [&](const char* name) {
    return data.data() + header[name]["data_offsets"][0].get<std::size_t>();
  };
  std::int64_t second_long = 0;
  std::memcpy(&second_long, at("a.longs") + 8, 8);
  CHECK(second_long == (std::int64_t{1} << 40));
  float transposed_values[6];
  std::memcpy(transposed_values, at("e.transposed"), sizeof(transposed_values));
  CHECK(transposed_values[1] == 3.0f);  // [0][1] of the transpose = floats[1][0]

  CHECK_THROWS_AS(exporting::safetensors_bytes({{"x", floats}, {"x", longs}}, {}),
                  exporting::ExportError);
  const auto complex = torch::zeros({2}, torch::kComplexFloat);
  CHECK_THROWS_AS(exporting::safetensors_bytes({{"x", complex}}, {}), exporting::ExportError);
}

TEST_CASE("safetensors files are written atomically", "[export]") {
  testing::TempDir work;
  const auto path = work.path() / "model.safetensors";
  exporting::write_safetensors(path, {{"w", torch::ones({4})}}, {});
  REQUIRE(std::filesystem::exists(path));
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(work.path())) {
    (void)entry;
    ++files;
  }
  CHECK(files == 1);  // no temporary left behind
}

TEST_CASE("every parameter has a contract name", "[export]") {
  CHECK(exporting::tensor_name("blocks.0.attention.query_key_value.weight") ==
        "layers.0.self_attention.qkv.weight");
  CHECK(exporting::tensor_name("encoder_blocks.1.mlp.2.bias") == "encoder.layers.1.mlp.fc2.bias");
  CHECK(exporting::tensor_name("blocks.3.cross_attention.key_value.weight") ==
        "layers.3.cross_attention.kv.weight");
  CHECK(exporting::tensor_name("blocks.0.attention.variant.score.vector") ==
        "layers.0.self_attention.score.vector");
  CHECK(exporting::tensor_name("source_positions.learned.weight") == "encoder.pos_embed.weight");
  CHECK_THROWS_AS(exporting::tensor_name("blocks.0.attention.gate"), exporting::ExportError);
  CHECK_THROWS_AS(exporting::tensor_name("something.weight"), exporting::ExportError);

  const auto config = run::load_config(
      run::default_config_file(),
      {"model.arch=encoder_decoder", "variant=additive", "model.layers=2", "record.every=0"});
  const auto task = tasks::make_task(config);
  model::Transformer model(model::model_spec(config, *task));
  const auto weights = exporting::named_weights(*model);
  std::set<std::string> names;
  for (const auto& weight : weights) names.insert(weight.name);
  CHECK(names.size() == weights.size());
  CHECK(weights.size() == model->parameters().size());
  for (const auto* name :
       {"embed.weight", "pos_embed.weight", "encoder.pos_embed.weight",
        "encoder.layers.1.self_attention.qkv.bias", "encoder.final_norm.weight",
        "layers.1.cross_attention.q.weight", "layers.1.cross_attention.out.bias",
        "layers.0.self_attention.score.query_projection", "layers.0.cross_norm.weight",
        "layers.1.mlp.fc1.weight", "final_norm.bias", "head.weight"}) {
    CHECK(names.count(name) == 1);
  }
}

TEST_CASE("the new stages' parameters have contract names and shapes", "[export]") {
  CHECK(exporting::tensor_name("blocks.0.attention.variant.qk_norm.query_scale") ==
        "layers.0.self_attention.qk_norm.query_scale");
  CHECK(exporting::tensor_name("encoder_blocks.1.attention.variant.normaliser.logits") ==
        "encoder.layers.1.self_attention.normaliser.logits");
  CHECK(exporting::tensor_name("blocks.2.cross_attention.variant.mixer.lambda_k2") ==
        "layers.2.cross_attention.mixer.lambda_k2");
  CHECK(exporting::tensor_name("blocks.0.attention.variant.gate.projection.bias") ==
        "layers.0.self_attention.gate.projection.bias");

  // C = 32, H = 4, D = 8, one key/value head (G = 1), differential halves d = 4, 8 T5 buckets.
  const auto config = run::load_config(
      run::default_config_file(),
      {"model.arch=encoder_decoder", "model.d_model=32", "model.heads=4", "model.layers=1",
       "variant.kv_heads=1", "variant.qk_norm=layer", "variant.normaliser=sink",
       "variant.mixer=differential", "variant.gate=element", "variant.position=t5",
       "variant.t5_buckets=8", "variant.t5_max_distance=16", "record.every=0"});
  const auto task = tasks::make_task(config);
  model::Transformer model(model::model_spec(config, *task));
  std::map<std::string, std::vector<std::int64_t>> shapes;
  for (const auto& weight : exporting::named_weights(*model)) {
    shapes[weight.name] = weight.tensor.sizes().vec();
  }
  const std::vector<std::pair<std::string, std::vector<std::int64_t>>> expected = {
      {"layers.0.self_attention.qkv.weight", {32 + 2 * 8, 32}},  // [C + 2 G D, C]
      {"layers.0.self_attention.qkv.bias", {32 + 2 * 8}},
      {"layers.0.cross_attention.kv.weight", {2 * 8, 32}},  // [2 G D, C]
      {"encoder.layers.0.self_attention.qk_norm.query_scale", {4}},
      {"layers.0.cross_attention.qk_norm.key_scale", {4}},
      {"layers.0.self_attention.normaliser.logits", {4}},
      {"layers.0.cross_attention.mixer.lambda_q1", {4}},
      {"layers.0.self_attention.mixer.lambda_k2", {4}},
      {"encoder.layers.0.self_attention.mixer.norm_scale", {8}},
      {"layers.0.self_attention.gate.projection.weight", {32, 32}},  // [H D, C]
      {"layers.0.cross_attention.gate.projection.bias", {32}},
      {"layers.0.cross_attention.position.table", {8, 4}}};  // [K, H]
  for (const auto& [name, shape] : expected) {
    INFO(name);
    REQUIRE(shapes.count(name) == 1);
    CHECK(shapes[name] == shape);
  }
}
