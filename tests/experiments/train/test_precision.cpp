// train.precision: how a request resolves on this CPU, that autocast is on exactly inside its
// scope, and that `attnlab train` warns when bf16 falls back to fp32. The loss-curve comparison
// is test_bf16_loss_curve (slow).
#include <catch2/catch.hpp>

#include <ATen/autocast_mode.h>

#include "experiments/train/precision.h"
#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;
using train::Precision;

TEST_CASE("precision requests resolve against the CPU's bf16 support", "[precision]") {
  CHECK(train::resolve_precision("fp32", torch::kCPU).precision == Precision::Float32);
  CHECK(train::resolve_precision("bf16_emulated", torch::kCPU).precision == Precision::BFloat16);
  const auto bf16 = train::resolve_precision("bf16", torch::kCPU);
  if (train::cpu_has_bf16_matrix_units()) {
    CHECK(bf16.precision == Precision::BFloat16);
    CHECK(bf16.warning.empty());
  } else {
    CHECK(bf16.precision == Precision::Float32);
    CHECK_THAT(bf16.warning, Catch::Contains("no bf16 matrix instructions"));
  }
  CHECK_THROWS_AS(train::resolve_precision("fp16", torch::kCPU), std::invalid_argument);
}

TEST_CASE("autocast is on inside a bf16 scope only", "[precision]") {
  const auto x = torch::randn({4, 8});
  const auto w = torch::randn({3, 8});
  {
    train::AutocastScope fp32(Precision::Float32, torch::kCPU);
    CHECK_FALSE(at::autocast::is_cpu_enabled());
    CHECK(torch::linear(x, w).scalar_type() == torch::kFloat);
  }
  {
    train::AutocastScope bf16(Precision::BFloat16, torch::kCPU);
    CHECK(at::autocast::is_cpu_enabled());
    CHECK(torch::linear(x, w).scalar_type() == torch::kBFloat16);
  }
  CHECK_FALSE(at::autocast::is_cpu_enabled());
  CHECK(torch::linear(x, w).scalar_type() == torch::kFloat);
}

TEST_CASE("attnlab train says when bf16 falls back to fp32", "[precision]") {
  testing::TempDir dir("attnlab-precision");
  const auto result = testing::run_attnlab(
      {"train", "train.steps=2", "train.precision=bf16", "record.every=0", "runtime.progress=none",
       "experiment.results_dir=" + (dir.path() / "results").string()},
      dir.path());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  if (train::cpu_has_bf16_matrix_units()) {
    CHECK_THAT(result.output, !Catch::Contains("training in fp32"));
  } else {
    CHECK_THAT(result.output, Catch::Contains("no bf16 matrix instructions") &&
                                  Catch::Contains("training in fp32"));
  }
  const auto bad = testing::run_attnlab({"train", "train.precision=fp16"}, dir.path());
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.output, Catch::Contains("train.precision"));
}
