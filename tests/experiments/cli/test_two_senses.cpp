// What `attnlab probe --token` is for, on the shipped two-sense corpus: a 2-layer word LM trained
// by configs/two_senses.toml (1,500 steps, seconds on a CPU) reads "bank" differently by the
// river and at the bank. On a minimal pair (the sentences differ only in the cue before "bank")
// its most different head puts nearly all of the word's attention on the cue words, so the two
// rows are far apart; the same model after one step is not.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "dump/dump_reader.h"
#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;
using testing::run_attnlab;

namespace {

namespace fs = std::filesystem;

const fs::path kSource = ATTNLAB_SOURCE_DIR;  // the config names its corpus from here
const std::string kRiver = "the river was high , so anna walked to the bank";
const std::string kMoney = "the loan was overdue , so anna walked to the bank";
constexpr std::int64_t kBank = 10;

struct TopHead {
  std::int64_t layer = 0, head = 0;
  double js_by_token = 0;
};

// Trains (train.steps = `steps`), probes the minimal pair and reads the top row of
// token_heads.csv.
TopHead probe_top_head(const fs::path& work, const std::string& name, const std::string& steps) {
  const auto run = work / name;
  const auto trained = run_attnlab({"train", "--config", "configs/two_senses.toml", "--run-dir",
                                    run.string(), "train.steps=" + steps, "record.every=0",
                                    "runtime.progress=none"},
                                   kSource);
  INFO(trained.output);
  REQUIRE(trained.exit_code == 0);
  const auto probed = run_attnlab({"probe", "--run", run.string(), "--token", "bank", "--text",
                                   kRiver, "--text", kMoney, "--out", (run / "probe").string()},
                                  kSource);
  INFO(probed.output);
  REQUIRE(probed.exit_code == 0);
  std::ifstream csv(run / "probe" / "token_heads.csv");
  std::string header, row;
  std::getline(csv, header);
  std::getline(csv, row);
  std::vector<std::string> fields;  // rank,layer,head,map_kind,occurrences,js_by_token,...
  std::istringstream split(row);
  for (std::string field; std::getline(split, field, ',');) fields.push_back(field);
  REQUIRE(fields.size() == 12);
  TopHead top;
  top.layer = std::stoll(fields[1]);
  top.head = std::stoll(fields[2]);
  top.js_by_token = std::stod(fields[5]);
  return top;
}

}  // namespace

TEST_CASE("a trained word LM attends to the sense cue from 'bank'", "[cli][slow]") {
  testing::TempDir work;
  const auto untrained = probe_top_head(work.path(), "untrained", "1");
  const auto trained = probe_top_head(work.path(), "trained", "1500");
  INFO("untrained top head: layer " << untrained.layer << " head " << untrained.head << ", "
                                    << untrained.js_by_token);
  INFO("trained top head: layer " << trained.layer << " head " << trained.head << ", "
                                  << trained.js_by_token);
  CHECK(untrained.js_by_token < 0.6);
  CHECK(trained.js_by_token > 0.9);

  // The trained head's rows from "bank" lie on the cue ("river was high" / "loan was overdue").
  const dump::DumpReader reader(work.path() / "trained" / "probe" / "attention.h5");
  const auto length = reader.layers().at(static_cast<std::size_t>(trained.layer)).key_length;
  for (std::int64_t input = 0; input < 2; ++input) {
    const auto map = reader.map(trained.layer, 0, input, trained.head);
    double on_cue = 0;
    for (std::int64_t key = 1; key <= 3; ++key) on_cue += map[kBank * length + key];
    INFO("input " << input);
    CHECK(on_cue > 0.8);
  }
}
