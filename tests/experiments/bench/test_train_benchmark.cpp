// `attnlab bench train`: the FLOP count MFU rests on, the presets against the PyTorch peer's
// model, a short measurement, the files it writes and its refusals of bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "experiments/bench/train_benchmark.h"
#include "tests/support/files.h"
#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;

namespace {

std::filesystem::path peer_script() {
  return std::filesystem::path(ATTNLAB_SOURCE_DIR) / "scripts" / "bench" / "torch_gpt.py";
}

std::vector<std::string> csv_lines(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("model FLOPs per token follow PaLM's count", "[bench]") {
  // medium: C 256, L 4, T 256, V 256. Matrices: 4 x (4 C^2 + 2 x C x 4C) + C V = 3,211,264;
  // 6 x that = 19,267,584; attention 12 L T C = 3,145,728.
  const auto spec = bench::preset_model(bench::train_preset("medium"));
  CHECK(model::training_flops_per_token(spec, 256) == 22413312.0);
  auto attention_only = spec;
  attention_only.attention_only = true;
  CHECK(model::training_flops_per_token(attention_only, 256) ==
        6.0 * (4 * 4 * 256.0 * 256 + 256.0 * 256) + 3145728.0);
}

TEST_CASE("presets are the issue's table and unknown names are refused", "[bench]") {
  const auto& tiny = bench::train_preset("tiny");
  CHECK(tiny.d_model == 64);
  CHECK(tiny.layers == 2);
  CHECK(tiny.heads == 4);
  CHECK(tiny.length == 64);
  CHECK(tiny.batch == 16);
  const auto& medium = bench::train_preset("medium");
  CHECK(medium.d_model == 256);
  CHECK(medium.layers == 4);
  CHECK(medium.heads == 8);
  CHECK(medium.length == 256);
  CHECK(medium.batch == 16);
  CHECK_THROWS_WITH(bench::train_preset("huge"), Catch::Contains("tiny, small, medium"));
}

TEST_CASE("median of odd and even counts", "[bench]") {
  CHECK(bench::median({3.0, 1.0, 2.0}) == 2.0);
  CHECK(bench::median({4.0, 1.0, 3.0, 2.0}) == 2.5);
  CHECK(std::isnan(bench::median({})));
}

TEST_CASE("a measurement trains the preset with the shared step", "[bench]") {
  const auto measurement =
      bench::measure_training(bench::train_preset("tiny"), "scaled", /*steps=*/3,
                              /*warmup=*/1, train::Precision::Float32, 2);
  CHECK(measurement.step_seconds.size() == 3);
  CHECK(measurement.tokens_per_step == 16 * 64);
  CHECK(measurement.tokens_per_second() > 0.0);
  CHECK(measurement.peak_rss_mb > 0.0);
  // Four steps from a random init on uniform tokens: the loss is still near ln 256.
  CHECK(measurement.final_loss == Approx(std::log(256.0)).margin(0.3));
  const auto round_trip = bench::measurement_from_json(bench::to_json(measurement));
  CHECK(round_trip.step_seconds == measurement.step_seconds);
  CHECK(round_trip.tokens_per_second() == Approx(measurement.tokens_per_second()));
}

TEST_CASE("the PyTorch peer builds the same model as every preset", "[bench]") {
  for (const auto& preset : bench::train_presets()) {
    DYNAMIC_SECTION(preset.name) {
      const auto result = testing::run_command(
          {"/usr/bin/python3", peer_script().string(), "--preset", preset.name, "--steps", "1",
           "--warmup", "0", "--threads", "1"},
          std::filesystem::current_path());
      REQUIRE(result.exit_code == 0);
      const auto peer = nlohmann::json::parse(result.output.substr(result.output.rfind('{')));
      model::Transformer model(bench::preset_model(preset));
      CHECK(peer["parameters"].get<std::int64_t>() == model->parameter_count());
      CHECK(peer["tokens_per_step"].get<std::int64_t>() == preset.batch * preset.length);
    }
  }
}

TEST_CASE("bench train writes one CSV row per measurement and a JSON summary", "[bench]") {
  testing::TempDir dir("attnlab-bench-train");
  const auto result = testing::run_attnlab(
      {"bench", "train", "--presets", "tiny", "--steps", "2", "--warmup", "1", "--rounds", "2",
       "--matmul-size", "128", "--vs-python", "--output", "out"},
      dir.path());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::Contains("attnlab/fp32 / pytorch-eager/fp32"));
  const auto lines = csv_lines(dir.path() / "out" / "train.csv");
  REQUIRE(lines.size() == 5);  // header + 2 rounds x (attnlab, peer)
  CHECK(lines[0].rfind("round,preset,variant,implementation,precision,threads,", 0) == 0);
  CHECK_THAT(lines[1], Catch::StartsWith("1,tiny,scaled,attnlab,fp32,"));
  CHECK_THAT(lines[2], Catch::StartsWith("1,tiny,scaled,pytorch-eager,fp32,"));
  const auto summary =
      nlohmann::json::parse(testing::read_text(dir.path() / "out" / "train.json"));
  CHECK(summary["matmul_peak_gflops"]["fp32"].get<double>() > 0.0);
  const auto& tiny = summary["presets"]["tiny"];
  CHECK(tiny["flops_per_token"].get<double>() > 0.0);
  CHECK(tiny["attnlab_vs_pytorch_fp32"]["rounds"].size() == 2);
  CHECK(tiny["attnlab_vs_pytorch_fp32"]["median"].get<double>() > 0.0);
  CHECK(tiny["attnlab/fp32"]["mfu_rounds"].size() == 2);
  CHECK(tiny["attnlab/fp32"]["mfu_median"].get<double>() > 0.0);
}

TEST_CASE("bench train measures each variant and what shared key/value heads save", "[bench]") {
  testing::TempDir dir("attnlab-bench-train-variants");
  const auto result = testing::run_attnlab(
      {"bench", "train", "--presets", "tiny", "--variants", "scaled,mqa", "--steps", "2",
       "--warmup", "1", "--rounds", "1", "--matmul-size", "128", "--output", "out"},
      dir.path());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::Contains("attnlab[mqa]/fp32 / attnlab/fp32"));
  const auto lines = csv_lines(dir.path() / "out" / "train.csv");
  REQUIRE(lines.size() == 3);
  CHECK_THAT(lines[1], Catch::StartsWith("1,tiny,scaled,attnlab,fp32,"));
  CHECK_THAT(lines[2], Catch::StartsWith("1,tiny,mqa,attnlab,fp32,"));
  const auto parameters = [&](const std::string& line) {
    std::stringstream fields(line);
    std::string field;
    for (int column = 0; column <= 7; ++column) std::getline(fields, field, ',');
    return std::stoll(field);  // the parameters column
  };
  // One key/value head instead of 4 (d_model 64, head dim 16): each of the 2 layers' key and value
  // projections shrink from 64 -> 128 to 64 -> 32 outputs, weights and biases.
  CHECK(parameters(lines[1]) - parameters(lines[2]) == 2 * (128 - 32) * (64 + 1));
  const auto summary =
      nlohmann::json::parse(testing::read_text(dir.path() / "out" / "train.json"));
  const auto& tiny = summary["presets"]["tiny"];
  CHECK(tiny["mqa_vs_scaled_fp32"]["median"].get<double>() > 0.0);
  CHECK(tiny["flops_per_token_by_variant"]["mqa"].get<double>() <
        tiny["flops_per_token_by_variant"]["scaled"].get<double>());
}

TEST_CASE("bench train refuses unknown presets and precisions with exit code 2", "[bench]") {
  testing::TempDir dir("attnlab-bench-train-bad");
  auto result = testing::run_attnlab({"bench", "train", "--presets", "tiny,huge"}, dir.path());
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.output, Catch::Contains("unknown bench preset \"huge\""));
  result = testing::run_attnlab({"bench", "train", "--precision", "fp16"}, dir.path());
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.output, Catch::Contains("train.precision = \"fp16\""));
  result = testing::run_attnlab({"bench", "train", "--variants", "scaled,nonesuch"}, dir.path());
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.output, Catch::Contains("nonesuch"));
  CHECK_FALSE(std::filesystem::exists(dir.path() / "results"));
}
