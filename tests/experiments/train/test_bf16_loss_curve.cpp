// A bf16 run's loss curve stays within 0.05 nats of the fp32 run's on the copy and mqar tasks
// (40 steps, every 5th step logged). Slow: bf16 without bf16 matrix instructions is emulated.
#include <catch2/catch.hpp>

#include <map>

#include "experiments/run/run_dir.h"
#include "experiments/train/metrics_log.h"
#include "experiments/train/trainer.h"
#include "tests/support/short_run.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;

TEST_CASE("bf16 training follows the fp32 loss curve on copy and mqar", "[precision][slow]") {
  // bf16_emulated runs bf16 autocast whatever the CPU has, so the numerics are checked here too.
  for (const std::string task : {"copy", "mqar"}) {
    DYNAMIC_SECTION(task) {
      testing::TempDir dir("attnlab-bf16-" + task);
      std::map<std::string, std::vector<double>> losses;
      for (const std::string precision : {"fp32", "bf16_emulated"}) {
        auto config = testing::short_run(
            dir.path() / precision,
            {"task=" + task, "train.batch=16", "train.precision=" + precision, "record.every=0"});
        const auto run = run::RunDir::create(config);
        train::train(config, run, {});
        for (const auto& row : train::MetricsLog::read_jsonl(run.metrics_jsonl())) {
          if (row.split == "train") losses[precision].push_back(row.loss);
        }
      }
      REQUIRE(losses["fp32"].size() == 8);
      REQUIRE(losses["bf16_emulated"].size() == losses["fp32"].size());
      for (std::size_t row = 0; row < losses["fp32"].size(); ++row) {
        INFO("logged row " << row);
        CHECK(losses["bf16_emulated"][row] == Approx(losses["fp32"][row]).margin(0.05));
      }
      // The curve moved: the comparison is not between two flat lines.
      CHECK(losses["fp32"].back() < losses["fp32"].front() - 0.05);
    }
  }
}
