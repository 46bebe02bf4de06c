// attnlab ablate on a real (short) run, through the binary: the files it promises with their
// headers and rows, --help, and bad input refused with exit 2, a message naming the path or
// option, and nothing written.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"

using attnlab::testing::run_attnlab;

namespace {

std::vector<std::string> lines(const std::filesystem::path& path) {
  std::ifstream file(path);
  std::vector<std::string> rows;
  for (std::string line; std::getline(file, line);) rows.push_back(line);
  return rows;
}

std::vector<std::string> fields(const std::string& row) {
  std::vector<std::string> values;
  std::stringstream stream(row);
  for (std::string value; std::getline(stream, value, ',');) values.push_back(value);
  return values;
}

}  // namespace

TEST_CASE("ablate writes the pruning curve, the single-head ablations and a figure", "[cli]") {
  attnlab::testing::TempDir work;
  const auto run = work.path() / "run";
  const auto trained = run_attnlab({"train", "--run-dir", run.string(), "train.steps=30",
                                    "train.eval_every=15", "train.log_every=15",
                                    "train.checkpoint_every=15", "task.val_examples=64",
                                    "task.test_examples=64", "record.every=0",
                                    "runtime.threads=1", "runtime.progress=none"},
                                   work.path());
  INFO(trained.output);
  REQUIRE(trained.exit_code == 0);

  const auto result = run_attnlab({"ablate", "--run", run.string(), "runtime.threads=1",
                                   "runtime.progress=lines"},
                                  work.path());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::Contains("[26/26] masked layer 1 head 3"));  // progress
  CHECK_THAT(result.output, Catch::Contains("pruning curve"));
  const auto out = run / "ablation";

  const auto pruning = lines(out / "pruning.csv");
  REQUIRE(pruning.size() == 1 + 9);  // header, 0..8 of 8 heads
  CHECK(pruning[0] == "fraction,heads_masked,loss,accuracy,sequence_accuracy");  // copy: no extras
  CHECK(fields(pruning[1])[0] == "0");
  CHECK(fields(pruning[1])[1] == "0");
  CHECK(fields(pruning[9])[0] == "1");
  CHECK(fields(pruning[9])[1] == "8");
  for (const auto& row : pruning) CHECK(fields(row).size() == 5);
  CHECK(lines(out / "pruning-reverse.csv").size() == 1 + 9);

  const auto ablation = lines(out / "ablation.csv");
  REQUIRE(ablation.size() == 1 + 8);
  CHECK(ablation[0] ==
        "layer,head,importance,importance_normalised,loss,accuracy,delta_loss,delta_accuracy");
  CHECK(ablation[1].rfind("0,0,", 0) == 0);
  CHECK(ablation[8].rfind("1,3,", 0) == 0);

  std::ifstream figure(out / "pruning.svg");
  const std::string svg((std::istreambuf_iterator<char>(figure)), std::istreambuf_iterator<char>());
  CHECK_THAT(svg, Catch::StartsWith("<svg "));
  CHECK_THAT(svg, Catch::Contains("fraction of heads masked"));

  // The unmasked evaluation is eval's on the same split and checkpoint.
  const auto summary = nlohmann::json::parse(std::ifstream(out / "ablation.json"));
  CHECK(summary["split"] == "val");
  CHECK(summary["heads"] == 8);
  CHECK(summary["examples"] == 64);
  const auto eval = run_attnlab({"eval", "--run", run.string(), "--split", "val"}, work.path());
  REQUIRE(eval.exit_code == 0);
  const auto report = nlohmann::json::parse(std::ifstream(run / "eval-val.json"));
  CHECK(summary["unmasked"]["loss"] == report["result"]["loss"]);
  CHECK(std::stod(fields(pruning[1])[2]) == report["result"]["loss"].get<double>());

  // --out, --split test and --examples.
  const auto elsewhere = work.path() / "elsewhere";
  const auto limited = run_attnlab({"ablate", "--run", run.string(), "--split", "test",
                                    "--examples", "10", "--out", elsewhere.string(),
                                    "runtime.threads=1"},
                                   work.path());
  INFO(limited.output);
  REQUIRE(limited.exit_code == 0);
  const auto limited_summary = nlohmann::json::parse(std::ifstream(elsewhere / "ablation.json"));
  CHECK(limited_summary["split"] == "test");
  CHECK(limited_summary["examples"] == 10);
  CHECK(limited_summary["unmasked"]["examples"] == 10);
  CHECK(lines(elsewhere / "ablation.csv").size() == 1 + 8);

  // Bad input: exit 2, the path or option named, nothing written.
  const auto fresh = work.path() / "fresh-out";
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"--run", (work.path() / "missing").string()}, (work.path() / "missing").string()},
      {{"--run", run.string(), "--split", "train"}, "--split"},
      {{"--run", run.string(), "--checkpoint", (work.path() / "no.pt").string()}, "no.pt"},
      {{"--run", run.string(), "--examples", "-1"}, "--examples"},
      {{"--run", run.string(), "model.layers=3"}, "model.layers=3"},
      {{"--run", run.string(), "--bogus"}, "--bogus"}};
  for (const auto& [arguments, named] : bad) {
    std::vector<std::string> full = {"ablate", "--out", fresh.string()};
    full.insert(full.end(), arguments.begin(), arguments.end());
    const auto refused = run_attnlab(full, work.path());
    INFO(refused.output);
    CHECK(refused.exit_code == 2);
    CHECK_THAT(refused.output, Catch::Contains(named));
    CHECK_FALSE(std::filesystem::exists(fresh));
  }
}

TEST_CASE("ablate --help lists its options", "[cli]") {
  attnlab::testing::TempDir work;
  const auto help = run_attnlab({"ablate", "--help"}, work.path());
  CHECK(help.exit_code == 0);
  for (const char* option : {"--run", "--split", "--checkpoint", "--out", "--examples"}) {
    CHECK_THAT(help.output, Catch::Contains(option));
  }
  const auto listing = run_attnlab({"--help"}, work.path());
  CHECK_THAT(listing.output, Catch::Contains("ablate"));
}
