// attnlab export against scripts/reference.py, a plain PyTorch re-implementation of the model
// (/usr/bin/python3, Debian's torch 1.13): for every variant config in configs/variant/ (found at
// run time, so a new config is covered without editing this file), for combinations of the
// stages beyond softmax(q·k)·v (shared key/value heads, QK-norm, soft-capping, sink and sigmoid
// normalisers, differential attention, output gates, the T5 bias, linear attention's feature maps
// with and without its denominator, FAVOR+'s redrawn random features), for encoder-decoder models
// and for encoder-only classifiers, a tiny model trains a few steps and is exported with a probe;
// the reference must reproduce its logits and every layer's attention map, masked zeros
// included, within 1e-4 (max abs), and the map kind the probe records. Wrong tensor names,
// formulas or pattern layouts (bigbird's random blocks are re-derived in Python from the same
// generator) make it fail.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"

using attnlab::testing::run_attnlab;
using attnlab::testing::run_command;

namespace {

constexpr double kTolerance = 1e-4;

// Small and quick, but with the options that scale with T shrunk so that at T = 32 every pattern
// masks something beyond causality: a 5-key window, stride 3, top-5, bigbird blocks of 4 (8 key
// blocks, so random blocks exist even under causality).
const std::vector<std::string> kTiny = {
    "task.val_examples=64", "task.test_examples=64", "model.d_model=32",
    "model.heads=4",        "model.layers=2",        "train.steps=20",
    "train.eval_every=20",  "train.log_every=20",    "train.checkpoint_every=20",
    "record.every=0",       "runtime.threads=1",     "variant.window=5",
    "variant.stride=3",     "variant.topk=5",        "variant.block=4",
    "variant.additive_hidden=16"};
// Copy 16 tokens: T = 32 for a decoder, S = T = 16 for an encoder-decoder.
const std::vector<std::string> kCopy = {"task=copy", "task.length=16"};

// FAVOR+ with its random features redrawn every 3 training forward passes: after train.steps = 20
// the export holds the 7th draw of ω, and the layer's counters say so.
const std::vector<std::string> kFavorRedrawn = {"variant=linear_favor", "variant.favor_redraw=3",
                                                "variant.favor_features=16"};

// The newer stages beyond their presets' defaults, with parts they compose with (D = 8, so
// differential halves are d = 4): shared key/value heads (GQA, MQA) under QK-norm, RoPE and both
// gates; caps small enough to bend a tiny model's scores; the sink after top-k and a window,
// learned and fixed; sigmoid with an offset over ALiBi; differential attention on RoPE'd,
// QK-normed halves and with the additive score; the T5 bias with buckets few enough that T = 32
// reaches the logarithmic ones and the last; a hybrid stack whose blocks differ in map kind.
const std::vector<std::vector<std::string>> kNewParts = {
    {"variant=rope", "variant.kv_heads=2", "variant.qk_norm=layer", "variant.gate=head"},
    {"variant=topk", "variant.normaliser=sink", "variant.softcap=1"},
    {"variant=local", "variant.normaliser=sink", "variant.sink_learned=false"},
    {"variant=alibi", "variant.normaliser=sigmoid", "variant.sigmoid_offset=0.5",
     "variant.softcap=2"},
    {"variant=rope", "variant.mixer=differential", "variant.qk_norm=rms", "variant.kv_heads=1",
     "variant.gate=element"},
    {"variant=additive", "variant.mixer=differential", "variant.normaliser=sink"},
    {"variant.position=t5", "variant.t5_buckets=8", "variant.t5_max_distance=16"},
    {"model.layer_variants=[differential,sink]"},
    // Linear attention beyond its presets (each runs causal above): redrawn FAVOR+ features, and
    // fixed ones under differential attention on QK-normed halves; the output norm instead of the
    // denominator over a window (a masked map on the plain path) with one key/value head and a
    // gate; Based's hybrid of taylor features and a softmax window.
    kFavorRedrawn,
    {"variant=linear_favor", "variant.mixer=differential", "variant.qk_norm=rms",
     "variant.favor_redraw=0"},
    {"variant=linear_relu", "variant.linear_denominator=false", "variant.pattern=local",
     "variant.kv_heads=1", "variant.gate=head"},
    {"model.layer_variants=[linear_taylor,local]"}};

// "a,b,c" of the overrides, after `prefix`.
std::string joined(std::string prefix, const std::vector<std::string>& overrides) {
  for (const auto& override : overrides) prefix += "," + override;
  return prefix;
}

std::filesystem::path reference_script() {
  return std::filesystem::path(ATTNLAB_SOURCE_DIR) / "scripts" / "reference.py";
}

// Trains and exports one model; returns the exported model file.
std::filesystem::path train_and_export(const std::filesystem::path& work, const std::string& name,
                                       const std::vector<std::string>& extra) {
  const auto run = work / name;
  std::vector<std::string> train = {"train", "--run-dir", run.string()};
  train.insert(train.end(), kTiny.begin(), kTiny.end());
  train.insert(train.end(), extra.begin(), extra.end());
  const auto trained = run_attnlab(train, work);
  INFO(name << ": " << trained.output);
  REQUIRE(trained.exit_code == 0);
  const auto exported = run_attnlab({"export", "--run", run.string(), "--format", "safetensors",
                                     "--checkpoint", "latest", "--probe", "4"},
                                    work);
  INFO(name << ": " << exported.output);
  REQUIRE(exported.exit_code == 0);
  const auto model = run / "export" / "model.safetensors";
  REQUIRE(std::filesystem::exists(model));
  REQUIRE(std::filesystem::exists(run / "export" / "config.toml"));
  REQUIRE(std::filesystem::exists(run / "export" / "probe.safetensors"));
  return model;
}

// The int64 scalar `name` of an exported model.safetensors (8-byte header length, JSON header,
// data); fails the test if it is absent or not an I64 scalar.
std::int64_t exported_int64(const std::filesystem::path& model, const std::string& name) {
  std::ifstream file(model, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() >= 8);
  std::uint64_t length = 0;
  std::memcpy(&length, bytes.data(), 8);
  REQUIRE(8 + length <= bytes.size());
  const auto header = nlohmann::json::parse(bytes.substr(8, length));
  INFO(model << ": " << name);
  REQUIRE(header.contains(name));
  const auto& entry = header.at(name);
  CHECK(entry.at("dtype") == "I64");
  CHECK(entry.at("shape") == nlohmann::json::array());
  const auto begin = entry.at("data_offsets")[0].get<std::size_t>();
  REQUIRE(8 + length + begin + 8 <= bytes.size());
  std::int64_t value = 0;
  std::memcpy(&value, bytes.data() + 8 + length + begin, 8);
  return value;
}

std::vector<std::string> variant_configs() {
  std::vector<std::string> names;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::filesystem::path(ATTNLAB_SOURCE_DIR) / "configs" /
                                           "variant")) {
    if (entry.path().extension() == ".toml") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("the PyTorch reference reproduces every variant's logits and attention", "[export]") {
  attnlab::testing::TempDir work("attnlab-export");
  std::vector<std::pair<std::string, std::filesystem::path>> models;
  const auto variants = variant_configs();
  REQUIRE(variants.size() >= 10);
  for (const auto& variant : variants) {
    auto overrides = kCopy;
    overrides.push_back("variant=" + variant);
    models.emplace_back(variant, train_and_export(work.path(), variant, overrides));
  }
  for (const auto& choice : kNewParts) {
    auto overrides = kCopy;
    overrides.insert(overrides.end(), choice.begin(), choice.end());
    const auto directory = "new-parts-" + std::to_string(models.size());
    models.emplace_back(joined("decoder", choice),
                        train_and_export(work.path(), directory, overrides));
  }
  // Encoder-decoder: a bidirectional encoder, causal decoder self-attention and cross-attention.
  // Also with the parts whose bidirectional form differs from the causal one: bigbird's layout
  // and random blocks (blocks of 2, so that at S = T = 16 every layer's random draw matters), the
  // two-sided window (with RoPE), strided keys on both sides (with ALiBi's symmetric distance),
  // T5's two-sided buckets; the new stages in cross-attention, with one key/value head from the
  // encoder and with two; a hybrid stack (block i's variant in both stacks and in its
  // cross-attention); and the other input positions and attention-only blocks. Linear attention
  // bidirectional and across sequences: cosFormer's position weights, FAVOR+ redrawn with one
  // key/value head, taylor features under the output norm, a hybrid of two feature maps.
  const std::vector<std::vector<std::string>> encoder_decoder = {
      {"variant=scaled", "model.positions=sinusoidal"},
      {"variant=bigbird", "variant.block=2"},
      {"variant=rope_local", "model.attention_only=true"},
      {"variant=strided", "variant.position=alibi", "model.positions=none"},
      {"variant.position=t5", "variant.t5_buckets=8", "variant.t5_max_distance=16",
       "variant.kv_heads=1", "variant.gate=element", "variant.normaliser=sink"},
      {"variant.mixer=differential", "variant.normaliser=sigmoid", "variant.qk_norm=layer",
       "variant.softcap=1", "variant.kv_heads=2"},
      {"model.layer_variants=[t5,gqa]", "layer_variant.t5.t5_buckets=8",
       "layer_variant.t5.t5_max_distance=16"},
      {"variant=linear_cosformer"},
      {"variant=linear_favor", "variant.favor_redraw=4", "variant.kv_heads=1"},
      {"variant=linear_taylor", "variant.taylor_dim=4", "variant.linear_denominator=false"},
      {"model.layer_variants=[linear_elu1,linear_favor]"}};
  for (const auto& choice : encoder_decoder) {
    const auto name = joined("encoder_decoder", choice);
    auto overrides = kCopy;
    overrides.insert(overrides.end(), choice.begin(), choice.end());
    overrides.push_back("model.arch=encoder_decoder");
    const auto directory = "encoder_decoder-" + std::to_string(models.size());
    models.emplace_back(name, train_and_export(work.path(), directory, overrides));
  }
  // Encoder only: one bidirectional stack and a pooled classification head (ListOps, 10
  // classes, right-padded to T = 32), mean-pooled with a two-sided window and with relu features
  // (whose rows can vanish) over all keys, and reading the classification token's final state.
  const std::vector<std::pair<std::string, std::string>> encoders = {
      {"local", "mean"}, {"linear_relu", "mean"}, {"scaled", "cls"}};
  for (const auto& [variant, pooling] : encoders) {
    models.emplace_back("encoder,task=listops,variant=" + variant + ",model.pooling=" + pooling,
                        train_and_export(work.path(), "encoder-" + variant + "-" + pooling,
                                         {"task=listops", "task.length=32", "task.min_length=16",
                                          "task.max_depth=3", "model.arch=encoder",
                                          "variant=" + variant, "model.pooling=" + pooling}));
  }

  // FAVOR+'s ω is a buffer exported with the layer's seed and its count of training forward
  // passes (one per step), from which attnlab redraws it.
  const auto favor = std::find_if(models.begin(), models.end(), [](const auto& model) {
    return model.first == joined("decoder", kFavorRedrawn);
  });
  REQUIRE(favor != models.end());
  for (const std::string layer : {"layers.0", "layers.1"}) {
    const auto prefix = layer + ".self_attention.score.feature_map.";
    CHECK(exported_int64(favor->second, prefix + "draws") == 20);
    CHECK(exported_int64(favor->second, prefix + "seed") > 0);
  }
  CHECK(exported_int64(favor->second, "layers.0.self_attention.score.feature_map.seed") !=
        exported_int64(favor->second, "layers.1.self_attention.score.feature_map.seed"));

  // One Python process for all models: importing torch costs about 2 s.
  const auto report = work.path() / "reference.json";
  const auto tolerance = std::to_string(kTolerance);
  std::vector<std::string> command = {"/usr/bin/python3", reference_script().string(), "check",
                                      "--tolerance", tolerance, "--json", report.string()};
  for (const auto& [name, model] : models) command.push_back(model.string());
  const auto checked = run_command(command, work.path());
  INFO(checked.output);
  REQUIRE(std::filesystem::exists(report));
  const auto results = nlohmann::json::parse(std::ifstream(report));
  for (const auto& [name, model] : models) {
    const auto& result = results.at(model.string());
    INFO(name << ": " << result.dump());
    REQUIRE(result.contains("logits"));
    double probs = 0.0;
    for (const auto& layer : result["probs"]) probs = std::max(probs, layer.get<double>());
    std::printf("%-50s logits max abs diff %.3g, maps %.3g (%d layers)\n", name.c_str(),
                result["logits"].get<double>(), probs, result["layers"].get<int>());
    CHECK(result["logits"].get<double>() <= kTolerance);
    CHECK(probs <= kTolerance);
    CHECK(result["layers"].get<int>() == (name.rfind("encoder_decoder", 0) == 0 ? 6 : 2));
    CHECK(result["ok"].get<bool>());
  }
  CHECK(checked.exit_code == 0);
}

TEST_CASE("export rejects bad input with exit code 2", "[export]") {
  attnlab::testing::TempDir work("attnlab-export");
  const auto help = run_attnlab({"export", "--help"}, work.path());
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.output, Catch::Contains("--probe"));

  const auto missing_run = run_attnlab(
      {"export", "--run", (work.path() / "nope").string(), "--format", "safetensors"},
      work.path());
  CHECK(missing_run.exit_code == 2);
  CHECK_THAT(missing_run.output, Catch::Contains("not a run directory"));

  // A run directory without checkpoints: its config alone.
  const auto empty = work.path() / "empty";
  std::filesystem::create_directories(empty);
  const auto shown = run_attnlab({"config", "show"}, work.path());
  REQUIRE(shown.exit_code == 0);
  std::ofstream(empty / "config.toml") << shown.output;
  const auto no_checkpoint =
      run_attnlab({"export", "--run", empty.string(), "--format", "safetensors"}, work.path());
  CHECK(no_checkpoint.exit_code == 2);
  CHECK_THAT(no_checkpoint.output, Catch::Contains("no checkpoint"));

  const auto unknown_format =
      run_attnlab({"export", "--run", empty.string(), "--format", "onnx"}, work.path());
  CHECK(unknown_format.exit_code == 2);
  CHECK_THAT(unknown_format.output, Catch::Contains("safetensors"));
  CHECK_FALSE(std::filesystem::exists(empty / "export"));
}
