// attnlab eval and attnlab compare on real (short) runs, through the binary.
#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"

using attnlab::testing::run_attnlab;

namespace {

const std::vector<std::string> kBudget = {"train.steps=30", "train.eval_every=15",
                                          "train.log_every=15", "train.checkpoint_every=15",
                                          "task.val_examples=64", "task.test_examples=64",
                                          "runtime.threads=1"};

std::filesystem::path train_run(const std::filesystem::path& work, const std::string& name,
                                std::vector<std::string> extra) {
  std::filesystem::create_directories(work);
  std::vector<std::string> arguments = {"train", "--run-dir", (work / name).string()};
  arguments.insert(arguments.end(), kBudget.begin(), kBudget.end());
  arguments.insert(arguments.end(), extra.begin(), extra.end());
  const auto result = run_attnlab(arguments, work);
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  return work / name;
}

}  // namespace

TEST_CASE("eval reports a split and length generalisation where positions allow", "[cli]") {
  attnlab::testing::TempDir work;
  const auto learned = train_run(work.path(), "learned", {});
  const auto result = run_attnlab(
      {"eval", "--run", learned.string(), "--split", "test", "eval.lengths=[8,24]"}, work.path());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  const auto report = nlohmann::json::parse(std::ifstream(learned / "eval-test.json"));
  CHECK(report["result"]["examples"] == 64);
  CHECK(report["result"]["accuracy"].get<double>() >= 0.0);
  REQUIRE(report["lengths"].size() == 2);
  CHECK(report["lengths"][0].contains("result"));   // shorter than trained: fine
  CHECK(report["lengths"][1].contains("skipped"));  // learned positions stop at T = 32

  const auto sinusoidal = train_run(work.path(), "sinusoidal", {"model.positions=sinusoidal"});
  const auto longer = run_attnlab({"eval", "--run", sinusoidal.string(), "eval.lengths=[24]"},
                                  work.path());
  INFO(longer.output);
  REQUIRE(longer.exit_code == 0);
  const auto extended = nlohmann::json::parse(std::ifstream(sinusoidal / "eval-test.json"));
  CHECK(extended["lengths"][0]["sequence_length"] == 48);
  CHECK(extended["lengths"][0].contains("result"));

  CHECK(run_attnlab({"eval", "--run", learned.string(), "train.lr=1"}, work.path()).exit_code == 2);
  CHECK(run_attnlab({"eval", "--run", (work.path() / "nope").string()}, work.path()).exit_code == 2);
}

TEST_CASE("compare tables two variants over two seeds", "[cli]") {
  attnlab::testing::TempDir work;
  for (const std::string variant : {"scaled", "dot"}) {
    for (const std::string seed : {"0", "1"}) {
      train_run(work.path() / "runs", variant + "-" + seed, {"variant=" + variant, "seed=" + seed});
    }
  }
  const auto result = run_attnlab({"compare", (work.path() / "runs").string()}, work.path());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::Contains("variant.name=scaled"));
  CHECK_THAT(result.output, Catch::Contains("variant.name=dot"));
  CHECK_THAT(result.output, Catch::Contains(" 2 "));  // n = 2 seeds per group
  for (const char* file : {"compare.md", "compare.csv", "curves-copy.svg", "bars-copy.svg"}) {
    CHECK(std::filesystem::exists(work.path() / "runs" / "compare" / file));
  }
  CHECK(run_attnlab({"compare", (work.path() / "empty").string()}, work.path()).exit_code == 2);
}

TEST_CASE("compare --tune chooses a learning rate per variant on validation, reports test",
          "[cli]") {
  attnlab::testing::TempDir work;
  const auto runs = work.path() / "runs";
  for (const std::string variant : {"scaled", "dot"}) {
    for (const std::string lr : {"0.001", "0.003"}) {
      const auto run =
          train_run(runs, variant + "-" + lr, {"variant=" + variant, "train.lr=" + lr});
      const auto tested =
          run_attnlab({"eval", "--run", run.string(), "--split", "test"}, work.path());
      INFO(tested.output);
      REQUIRE(tested.exit_code == 0);
    }
  }
  const auto out = work.path() / "tuned";
  const auto result = run_attnlab(
      {"compare", runs.string(), "--tune", "train.lr", "--out", out.string()}, work.path());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::Contains("tuned over train.lr"));
  CHECK_THAT(result.output, Catch::Contains("variant.name=scaled"));
  CHECK_THAT(result.output, Catch::Contains("train.lr=0.00"));  // the chosen value, as written
  CHECK_THAT(result.output, Catch::Contains("rank   task       group"));  // the untuned table too
  CHECK_FALSE(Catch::Contains("without a test score").match(result.output));  // all tested
  for (const char* file :
       {"compare.md", "compare.csv", "compare_tuned.csv", "tune-copy-train_lr.svg"}) {
    CHECK(std::filesystem::exists(out / file));
  }

  // Bad input exits 2, names the key (and the group), and writes nothing.
  const auto refused = work.path() / "refused";
  const auto not_swept =
      run_attnlab({"compare", runs.string(), "--tune", "model.d_model", "--out", refused.string()},
                  work.path());
  CHECK(not_swept.exit_code == 2);
  CHECK_THAT(not_swept.output, Catch::Contains("model.d_model") && Catch::Contains("not swept"));
  std::filesystem::remove_all(runs / "dot-0.003");  // dot now ran one learning rate only
  const auto single = run_attnlab(
      {"compare", runs.string(), "--tune", "train.lr", "--out", refused.string()}, work.path());
  CHECK(single.exit_code == 2);
  CHECK_THAT(single.output, Catch::Contains("train.lr") && Catch::Contains("variant.name=dot"));
  CHECK_FALSE(std::filesystem::exists(refused));
  // The comma form is two keys: the best of the three (variant, learning rate) pairs.
  const auto both = run_attnlab(
      {"compare", runs.string(), "--tune=train.lr,variant.name", "--out", out.string()},
      work.path());
  CHECK(both.exit_code == 0);
  CHECK_THAT(both.output, Catch::Contains("tuned over train.lr, variant.name"));
}
