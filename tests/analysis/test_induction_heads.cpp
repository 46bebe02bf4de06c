// End to end (slow): induction heads form in a 2-layer attention-only model trained on repeated
// random segments (configs/induction_heads.toml), and `attnlab analyze` finds them from the
// recording alone: a layer-1 head labelled induction, a layer-0 head labelled previous (the
// composition of Olsson et al. 2022), and the step at which the induction head formed, after the
// start of training and before its end, within a few evaluations of the drop in
// in-context-learning loss.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <sstream>

#include "tests/support/run_command.h"
#include "tests/support/files.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;
using testing::read_text;
using testing::run_attnlab;

namespace {

// The labels of classes.csv at its last snapshot: (layer, head) -> label.
std::map<std::pair<int, int>, std::string> last_labels(const std::filesystem::path& path) {
  std::istringstream lines(read_text(path));
  std::string line;
  std::getline(lines, line);  // header
  std::map<std::pair<int, int>, std::string> labels;
  int last = -1;
  while (std::getline(lines, line)) {
    std::vector<std::string> fields;
    std::istringstream cells(line);
    for (std::string cell; std::getline(cells, cell, ',');) fields.push_back(cell);
    const int snapshot = std::stoi(fields[0]);
    if (snapshot > last) labels.clear(), last = snapshot;
    labels[{std::stoi(fields[2]), std::stoi(fields[3])}] = fields[4];
  }
  return labels;
}

}  // namespace

TEST_CASE("analyze finds the induction and previous-token heads of a trained 2-layer model",
          "[analysis][heads][slow]") {
  testing::TempDir directory;
  const auto run = directory.path() / "run";
  const auto config =
      std::filesystem::path(ATTNLAB_SOURCE_DIR) / "configs" / "induction_heads.toml";
  const auto train = run_attnlab({"train", "--config", config.string(), "--run-dir", run.string(),
                                  "runtime.progress=none"},
                                 directory.path());
  INFO(train.output);
  REQUIRE(train.exit_code == 0);

  const auto analysis = run_attnlab({"analyze", (run / "attention.h5").string()}, directory.path());
  INFO(analysis.output);
  REQUIRE(analysis.exit_code == 0);
  const auto labels = last_labels(run / "analysis" / "classes.csv");
  REQUIRE(labels.size() == 4);
  const auto has = [&](int layer, const std::string& label) {
    return labels.at({layer, 0}) == label || labels.at({layer, 1}) == label;
  };
  CHECK(has(1, "induction"));
  CHECK(has(0, "previous"));

  // The formation step of a layer-1 induction head, from the summary.
  const std::regex formed(R"(layer 01 head \d: induction\s+from step (\d+))");
  std::smatch match;
  REQUIRE(std::regex_search(analysis.output, match, formed));
  const int step = std::stoi(match[1]);
  CHECK(step > 0);    // not there at initialisation
  CHECK(step < 400);  // and formed before the end of training

  // The two induction heads do the same thing: the similarity analysis groups them.
  if (labels.at({1, 0}) == "induction" && labels.at({1, 1}) == "induction") {
    CHECK_THAT(analysis.output, Catch::Contains("L1H0 L1H1"));
  }
  CHECK(std::filesystem::exists(run / "analysis" / "figures" / "map_induction.svg"));

  // The phase change shows in the loss too: in-context learning improves within a few
  // evaluations of the prefix-matching jump (compare --induction-timing).
  const auto out = directory.path() / "compare";
  const auto timing = run_attnlab(
      {"compare", run.string(), "--induction-timing", "--out", out.string()}, directory.path());
  INFO(timing.output);
  REQUIRE(timing.exit_code == 0);
  std::istringstream rows(read_text(out / "induction_timing.csv"));
  std::string header, row;
  std::getline(rows, header);
  REQUIRE(header.rfind("run,seed,prefix_matching_step,icl_step,", 0) == 0);
  REQUIRE(std::getline(rows, row));
  std::vector<std::string> cells;
  std::istringstream fields(row);
  for (std::string cell; std::getline(fields, cell, ',');) cells.push_back(cell);
  REQUIRE(cells.size() >= 4);
  REQUIRE(cells[2] != "nan");
  REQUIRE(cells[3] != "nan");
  const double prefix_step = std::stod(cells[2]), icl_step = std::stod(cells[3]);
  CHECK(prefix_step > 0);
  CHECK(icl_step > 0);
  CHECK(std::abs(icl_step - prefix_step) <= 100);
  CHECK(std::filesystem::exists(out / "induction_timing.svg"));
}
