// docs/getting-started.md's promise: the default experiment (tiny decoder, scaled attention, copy task) reaches
// at least 99% validation token accuracy within 60 s of training on 2 cores. Labelled slow.
#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"

TEST_CASE("the default experiment learns copy to 99% within 60 s of training", "[slow]") {
  attnlab::testing::TempDir work;
  const auto run_dir = work.path() / "run";
  const auto result = attnlab::testing::run_attnlab(
      {"train", "--run-dir", run_dir.string(), "runtime.threads=2"}, work.path());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  const auto summary = nlohmann::json::parse(std::ifstream(run_dir / "summary.json"));
  INFO(summary.dump(2));
  CHECK(summary["final"]["val_accuracy"].get<double>() >= 0.99);
  CHECK(summary["train_time_s"].get<double>() <= 60.0);
}
