// The cost estimate's peak memory against the measured peak resident set of real runs, each in a
// fresh process, over a spread of configs: tiny to medium, each attention path (fused, plain,
// chunked), an encoder, recording on and off. The estimate is held to within kLow..kHigh of the
// measurement; the ratios are printed so a change of the model shows where it drifts.
#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/support/files.h"
#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;

namespace {

// Measured / estimated peak: 0.93-1.11 over this file's configs on the project's 2-core machine
// (one thread); the band leaves room for another machine's allocator and libraries.
constexpr double kLow = 0.8, kHigh = 1.3;

struct Case {
  std::string label;
  std::vector<std::string> overrides;
};

}  // namespace

TEST_CASE("the estimated peak memory is within a stated band of the measured peak RSS", "[cost]") {
  const std::vector<std::string> quick = {"train.steps=3", "train.eval_every=3",
                                          "task.val_examples=64", "runtime.progress=none",
                                          "runtime.threads=1", "record.every=3"};
  const std::vector<Case> cases = {
      {"tiny, fused, recording", {}},
      {"tiny, fused, no recording", {"record.every=0"}},
      {"medium, fused", {"model.d_model=256", "model.layers=4", "model.heads=8",
                         "task.length=128", "train.batch=16", "record.every=0"}},
      {"medium, fused, recording", {"model.d_model=256", "model.layers=4", "model.heads=8",
                                    "task.length=128", "train.batch=16", "record.samples=16"}},
      {"chunked", {"task.length=1024", "train.batch=8", "model.d_model=128", "record.every=0"}},
      {"chunked, local", {"task.length=1024", "train.batch=8", "model.d_model=128",
                          "variant=local", "variant.window=64", "record.every=0"}},
      {"plain (additive)", {"variant=additive", "task.length=64", "train.batch=32"}},
      {"plain, large batch", {"variant=additive", "task.length=128", "train.batch=64",
                              "record.every=0"}},
      {"accumulated", {"task.length=128", "train.batch=128", "train.accumulate=4",
                       "model.d_model=128", "record.every=0"}},
      {"encoder-decoder", {"model.arch=encoder_decoder", "task.length=64", "train.batch=32"}},
  };
  for (const auto& test : cases) {
    DYNAMIC_SECTION(test.label) {
      testing::TempDir directory;
      const auto run = directory.path() / "run";
      std::vector<std::string> arguments = {"train", "--run-dir", run.string()};
      arguments.insert(arguments.end(), quick.begin(), quick.end());
      arguments.insert(arguments.end(), test.overrides.begin(), test.overrides.end());
      const auto result = testing::run_attnlab(arguments, directory.path());
      INFO(result.output);
      REQUIRE(result.exit_code == 0);
      const auto summary = nlohmann::json::parse(testing::read_text(run / "summary.json"));
      const double measured = summary["peak_rss_mb"].get<double>();
      const double estimated = summary["cost_estimate"]["peak_mb"].get<double>();
      const double ratio = measured / estimated;
      WARN(fmt::format("{}: measured {:.1f} MB, estimated {:.1f} MB, ratio {:.2f}", test.label,
                       measured, estimated, ratio));
      CHECK(ratio >= kLow);
      CHECK(ratio <= kHigh);
    }
  }
}
