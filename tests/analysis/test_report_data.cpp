// The data behind `attnlab report`: block means and 8-bit codes of maps, base64, CSV reading,
// and the document gathered from a real recorded run (maps that decode back to the dump's
// weights, each layer's map kind, signed maps as |A|, the map budget, bad options), plus
// `attnlab report`'s exit 2 on bad input.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "base/csv_number.h"
#include "dump/dump_reader.h"
#include "analysis/report/csv_table.h"
#include "analysis/report/report_data.h"
#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;
using testing::run_attnlab;

namespace {

namespace fs = std::filesystem;

std::vector<std::uint8_t> decode_base64(const std::string& text) {
  static const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<std::uint8_t> bytes;
  unsigned buffer = 0;
  int bits = 0;
  for (const char c : text) {
    if (c == '=') break;
    buffer = (buffer << 6U) | static_cast<unsigned>(alphabet.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<std::uint8_t>((buffer >> static_cast<unsigned>(bits)) & 0xFFU));
    }
  }
  return bytes;
}

// A 20-step recorded run of the demo config with 4 heads (2 layers x 4 heads, so a layer/head
// mix-up shows, T = 32), snapshots 0, 10, 20; `overrides` change it further.
fs::path recorded_run(const fs::path& root, const std::string& name = "run",
                      const std::vector<std::string>& overrides = {}) {
  const auto dir = root / name;
  std::vector<std::string> arguments = {
      "train", "--config", "configs/demo.toml", "--run-dir", dir.string(), "train.steps=20",
      "train.eval_every=10", "train.checkpoint_every=10", "record.every=10", "record.samples=3",
      "model.heads=4", "runtime.threads=1", "runtime.progress=none"};
  arguments.insert(arguments.end(), overrides.begin(), overrides.end());
  const auto result = run_attnlab(arguments, ATTNLAB_SOURCE_DIR);
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  return dir;
}

// One recorded run per test process, shared by the sections that only read it (Catch2 runs a
// test case again from the top for every section).
const fs::path& shared_run() {
  static testing::TempDir dir("attnlab-report-run");
  static const fs::path run = recorded_run(dir.path());
  return run;
}

void write(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

}  // namespace

TEST_CASE("maps are stored as 8-bit block means relative to their largest weight", "[report]") {
  // 4 x 4, block 2: cells are the means of 2 x 2 squares.
  const std::vector<float> map = {0.0f, 0.2f, 0.4f, 0.4f,  //
                                  0.2f, 0.2f, 0.2f, 0.2f,  //
                                  1.0f, 0.0f, 0.0f, 0.0f,  //
                                  1.0f, 0.0f, 0.0f, 0.0f};
  std::vector<std::uint8_t> codes = {7};  // appended to, not replaced
  const float largest = report::quantise_map(map, 4, 4, 2, codes);
  CHECK(largest == Approx(0.5f));  // the bottom-left cell
  REQUIRE(codes.size() == 5);
  CHECK(codes[0] == 7);
  CHECK(codes[1] == 77);   // 0.15 / 0.5 * 255 = 76.5, rounded half away from zero
  CHECK(codes[2] == 153);  // 0.3
  CHECK(codes[3] == 255);  // 0.5
  CHECK(codes[4] == 0);

  SECTION("block 1 keeps every weight") {
    std::vector<std::uint8_t> full;
    CHECK(report::quantise_map(map, 4, 4, 1, full) == Approx(1.0f));
    CHECK(full.size() == 16);
    CHECK(full[1] == 51);
    CHECK(full[8] == 255);
  }
  SECTION("partial cells at the edges average only what they cover") {
    // 3 x 3, block 2: cells 2x2, 2x1, 1x2, 1x1.
    const std::vector<float> small = {0.1f, 0.1f, 0.8f, 0.1f, 0.1f, 0.8f, 0.3f, 0.3f, 0.9f};
    std::vector<std::uint8_t> cells;
    CHECK(report::quantise_map(small, 3, 3, 2, cells) == Approx(0.9f));
    REQUIRE(cells.size() == 4);
    CHECK(cells[0] == std::lround(255 * 0.1 / 0.9));
    CHECK(cells[1] == std::lround(255 * 0.8 / 0.9));
    CHECK(cells[2] == std::lround(255 * 0.3 / 0.9));
    CHECK(cells[3] == 255);
  }
  SECTION("an all-zero map has scale 0 and codes 0") {
    std::vector<std::uint8_t> zeros;
    CHECK(report::quantise_map(std::vector<float>(4, 0.0f), 2, 2, 1, zeros) == 0.0f);
    CHECK(zeros == std::vector<std::uint8_t>(4, 0));
  }
}

TEST_CASE("base64 follows RFC 4648", "[report]") {
  const auto encode = [](const std::string& text) {
    return report::base64(std::vector<std::uint8_t>(text.begin(), text.end()));
  };
  CHECK(encode("").empty());
  CHECK(encode("f") == "Zg==");
  CHECK(encode("fo") == "Zm8=");
  CHECK(encode("foo") == "Zm9v");
  CHECK(encode("foob") == "Zm9vYg==");
  CHECK(encode("fooba") == "Zm9vYmE=");
  CHECK(encode("foobar") == "Zm9vYmFy");
  const std::vector<std::uint8_t> all = {0, 255, 128, 1, 254};
  CHECK(decode_base64(report::base64(all)) == all);
}

TEST_CASE("CSV files are read back with quotes, and bad rows are named", "[report]") {
  testing::TempDir dir;
  const auto file = dir.path() / "table.csv";
  write(file, "name,value,note\nscaled,1.5,\"a, b \"\"quoted\"\"\"\nrope,nan,\n");
  const auto table = report::CsvTable::read(file);
  REQUIRE(table.rows() == 2);
  CHECK(table.field(0, 2) == "a, b \"quoted\"");
  CHECK(table.number(0, 1) == 1.5);
  CHECK(std::isnan(table.number(1, 1)));
  CHECK(table.require_column("note") == 2);
  CHECK_THROWS_WITH(table.require_column("missing"), Catch::Contains("no column 'missing'"));
  CHECK_THROWS_WITH(table.number(0, 0), Catch::Contains("table.csv:2: column 'name'"));

  // What the writers quote (an error message in bench attention's CSV) reads back unchanged.
  const std::string message = "failed: \"x\", then y";
  write(file, "T,error\n1024," + attnlab::csv_text(message) + "\n2048," +
                  attnlab::csv_text("plain") + "\n");
  const auto quoted = report::CsvTable::read(file);
  CHECK(quoted.field(0, 1) == message);
  CHECK(quoted.field(1, 1) == "plain");

  write(file, "a,b\n1,2\n1,2,3\n");
  CHECK_THROWS_WITH(report::CsvTable::read(file), Catch::Contains("table.csv:3: 3 fields"));
  write(file, "");
  CHECK_THROWS_WITH(report::CsvTable::read(file), Catch::Contains("empty file"));
}

TEST_CASE("a run's report data holds its curves, statistics and maps that decode to the dump",
          "[report]") {
  const auto& run = shared_run();
  report::ReportRequest request;
  request.dir = run;
  request.samples = 2;
  const auto data = report::gather_report_data(request);
  CHECK(data["schema"] == "attnlab-report");
  CHECK(data["kind"] == "run");
  CHECK(data["comparison"].is_null());
  CHECK(data["curves"].size() == 2);  // validation at steps 10 and 20
  REQUIRE(data["runs"].size() == 1);
  const auto& entry = data["runs"][0];
  CHECK(entry["name"] == ".");
  CHECK(entry["steps"] == nlohmann::json({0, 10, 20}));
  CHECK(entry["variant"] == "scaled");
  CHECK(entry["layers"][1]["role"] == "decoder_self");  // which tokens the explorer shows
  CHECK(entry["layers"][1]["map_kind"] == "distribution");
  CHECK(entry["layers"][1]["statistics_on"] == "map");
  CHECK(entry["statistics"]["row_mass"][2][1][3].get<double>() == Approx(1.0).epsilon(1e-3));
  CHECK(entry["labels"].is_null());  // not analysed yet
  CHECK(entry["statistics"]["entropy"].size() == 3);
  CHECK(entry["statistics"]["entropy"][2].size() == 2);     // layers
  CHECK(entry["statistics"]["entropy"][2][1].size() == 4);  // heads
  {
    const dump::DumpReader reader(run / "attention.h5");
    const auto entropy = reader.statistic(1, "entropy");  // [N,H]
    CHECK(entry["statistics"]["entropy"][2][1][3].get<double>() ==
          Approx(entropy.values[2 * 4 + 3]));
  }

  const auto& maps = entry["maps"];
  REQUIRE(!maps.is_null());
  CHECK(maps["snapshots"] == nlohmann::json({2}));  // last
  CHECK(maps["samples"] == nlohmann::json({0, 1}));
  CHECK(maps["tokens"].size() == 2);
  const dump::DumpReader reader(run / "attention.h5");
  for (std::size_t layer = 0; layer < 2; ++layer) {
    const auto& stored = maps["layers"][layer];
    CHECK(stored["values"] == "A");
    CHECK(stored["block"] == 1);
    CHECK(stored["rows"] == 32);
    const auto codes = decode_base64(stored["data"].get<std::string>());
    REQUIRE(codes.size() == 2 * 4 * 32 * 32);  // samples x heads x rows x cols
    for (std::int64_t sample = 0; sample < 2; ++sample) {
      for (std::int64_t head = 0; head < 4; ++head) {
        const auto weights = reader.map(static_cast<std::int64_t>(layer), 2, sample, head);
        const float scale = stored["scale"][0][sample][head];
        const std::size_t offset = static_cast<std::size_t>((sample * 4 + head) * 32 * 32);
        float worst = 0.0f;
        for (std::size_t i = 0; i < weights.size(); ++i) {
          worst = std::max(worst,
                           std::abs(static_cast<float>(codes[offset + i]) / 255.0f * scale -
                                    weights[i]));
        }
        CHECK(worst <= scale / 510.0f + 1e-6f);  // half a quantisation step
      }
    }
  }

  SECTION("longer maps than --map-size are stored as block means") {
    request.map_size = 8;
    const auto small = report::gather_report_data(request);
    const auto& stored = small["runs"][0]["maps"]["layers"][0];
    CHECK(stored["block"] == 4);
    CHECK(stored["rows"] == 8);
    CHECK(decode_base64(stored["data"].get<std::string>()).size() == 2 * 4 * 8 * 8);
  }
  SECTION("--maps all stores every snapshot, none stores no map") {
    request.maps = report::MapsMode::All;
    CHECK(report::gather_report_data(request)["runs"][0]["maps"]["snapshots"] ==
          nlohmann::json({0, 1, 2}));
    request.maps = report::MapsMode::None;
    CHECK(report::gather_report_data(request)["runs"][0]["maps"].is_null());
  }
  SECTION("--snapshot takes a comma list") {
    request.snapshots = "first,-2";
    CHECK(report::gather_report_data(request)["runs"][0]["maps"]["snapshots"] ==
          nlohmann::json({0, 1}));
    request.snapshots = "latest";
    CHECK_THROWS_WITH(report::gather_report_data(request), Catch::Contains("--snapshot 'latest'"));
  }
  SECTION("the map budget is checked before any map is read") {
    request.max_map_mb = 0.01;  // 16 KB of maps, 22 KB in base64
    CHECK_THROWS_WITH(report::gather_report_data(request),
                      Catch::Contains("would take 0.0 MB") && Catch::Contains("--max-map-mb"));
    request.max_map_mb = 1000;  // beyond what Node can read as one string
    CHECK_THROWS_WITH(report::gather_report_data(request), Catch::Contains("at most") ||
                                                               Catch::Contains("(0, 300]"));
  }
  SECTION("analyze's labels and similarity are picked up") {
    testing::TempDir dir;
    const auto analysed_run = recorded_run(dir.path());
    REQUIRE(run_attnlab({"analyze", (analysed_run / "attention.h5").string()}, dir.path())
                .exit_code == 0);
    request.dir = analysed_run;
    const auto analysed = report::gather_report_data(request);
    const auto& labels = analysed["runs"][0]["labels"];
    REQUIRE(!labels.is_null());
    CHECK(labels["steps"] == nlohmann::json({0, 10, 20}));
    CHECK(labels["label"][2][1][0].is_string());
    const auto& similarity = analysed["runs"][0]["similarity"];
    REQUIRE(!similarity.is_null());
    CHECK(similarity["order"].size() == 8);  // 2 layers x 4 heads
    CHECK(similarity["distance"][0][0] == 0.0);

    // An analysis folder on its own finds its dump.
    request.dir = analysed_run / "analysis";
    const auto from_analysis = report::gather_report_data(request);
    CHECK(from_analysis["kind"] == "analysis");
    CHECK(from_analysis["runs"][0]["labels"] == labels);

    // A damaged classes.csv is named with its line, not read as step -2^63.
    write(analysed_run / "analysis" / "classes.csv",
          "snapshot,step,layer,head,label,score\n0,,0,0,broad,0.9\n");
    CHECK_THROWS_WITH(report::gather_report_data(request),
                      Catch::Contains("classes.csv:2: column 'step'"));
  }
}

TEST_CASE("each layer's map kind is in the report, and signed maps are stored as |A|",
          "[report]") {
  testing::TempDir dir;
  const auto run = recorded_run(dir.path(), "differential", {"variant.mixer=differential"});
  report::ReportRequest request;
  request.dir = run;
  request.samples = 1;
  const auto data = report::gather_report_data(request);
  const auto& entry = data["runs"][0];
  const dump::DumpReader reader(run / "attention.h5");
  for (std::size_t layer = 0; layer < 2; ++layer) {
    INFO("layer " << layer);
    CHECK(entry["layers"][layer]["map_kind"] == "signed");
    CHECK(entry["layers"][layer]["statistics_on"] == "normalised_abs_map");
    const auto& stored = entry["maps"]["layers"][layer];
    CHECK(stored["values"] == "|A|");
    const auto weights = reader.map(static_cast<std::int64_t>(layer), 2, 0, 1);
    CHECK(std::any_of(weights.begin(), weights.end(), [](float weight) { return weight < 0; }));
    const auto codes = decode_base64(stored["data"].get<std::string>());
    REQUIRE(codes.size() == 4 * 32 * 32);  // heads x rows x cols
    const float scale = stored["scale"][0][0][1];
    float worst = 0.0f;
    for (std::size_t i = 0; i < weights.size(); ++i) {
      const float decoded = static_cast<float>(codes[32 * 32 + i]) / 255.0f * scale;
      worst = std::max(worst, std::abs(decoded - std::abs(weights[i])));
    }
    CHECK(worst <= scale / 510.0f + 1e-6f);  // half a quantisation step
  }
  // Differential rows sum to 1 - λ: the row mass is its own statistic, not folded into the rest;
  // the mass of |A| is larger wherever a weight is negative.
  const auto& statistics = entry["statistics"];
  bool some_negative = false;
  for (std::size_t layer = 0; layer < 2; ++layer) {
    for (std::size_t head = 0; head < 4; ++head) {
      const auto mass = statistics["row_mass"][2][layer][head].get<double>();
      const auto abs_mass = statistics["row_abs_mass"][2][layer][head].get<double>();
      CHECK(mass < 0.99);
      CHECK(abs_mass >= mass);
      some_negative = some_negative || abs_mass > mass;
    }
  }
  CHECK(some_negative);
}

TEST_CASE("a folder of runs is compared, with curves per group and a run selector per dump",
          "[report]") {
  testing::TempDir dir;
  const auto a = recorded_run(dir.path(), "a");
  fs::create_directories(a / "ablation");  // as ablate writes it
  write(a / "ablation" / "pruning.csv",
        "fraction,heads_masked,loss,accuracy,sequence_accuracy\n0,0,1.5,0.9,0.5\n0.5,2,2.5,nan,0\n");
  const auto b = recorded_run(dir.path(), "b");  // the same config again: one group of two runs
  report::ReportRequest request;
  request.dir = dir.path();
  request.maps = report::MapsMode::None;
  write(dir.path() / "attention.csv",
        "variant,path,T,forward_backward_ms,error\nscaled,chunked,1024,87.7,\"failed, once\"\n");
  const auto data = report::gather_report_data(request);
  CHECK(data["kind"] == "runs");
  REQUIRE(data["comparison"]["groups"].size() == 1);
  CHECK(data["comparison"]["groups"][0]["runs"] == 2);
  CHECK(data["comparison"]["groups"][0]["metrics"]["val_accuracy"]["n"] == 2);
  CHECK(data["comparison"]["groups"][0]["metrics"]["val_accuracy"]["ci95"].is_number());
  CHECK(data["curves"].size() == 4);
  CHECK(data["runs"].size() == 2);
  CHECK(data["runs"][1]["name"] == "b");
  const auto& pruning = data["runs"][0]["pruning"];
  REQUIRE(pruning["increasing"].size() == 2);
  CHECK(pruning["increasing"][1]["heads_masked"] == 2);
  CHECK(pruning["increasing"][1]["accuracy"].is_null());
  CHECK(pruning["decreasing"].empty());
  CHECK(data["runs"][1]["pruning"].is_null());
  CHECK(data["bench_attention"]["rows"][0]["T"] == 1024);
  CHECK(data["bench_attention"]["rows"][0]["error"] == "failed, once");
  CHECK(data["lengths"].empty());  // no run evaluated at another length

  // Evaluated at twice the trained length (attnlab eval with eval.lengths): a row per length.
  write(a / "eval-test.json",
        "{\"step\": 20, \"task_length\": 16, \"result\": {\"accuracy\": 1.0}, \"lengths\": "
        "[{\"task_length\": 32, \"result\": {\"accuracy\": 0.25}}]}");
  const auto with_lengths = report::gather_report_data(request);
  REQUIRE(with_lengths["lengths"].size() == 2);
  CHECK(with_lengths["lengths"][1]["length"] == 32);
  CHECK(with_lengths["lengths"][1]["trained_length"] == 16);
  CHECK(with_lengths["lengths"][1]["mean"] == Approx(0.25));
  CHECK(with_lengths["lengths"][1]["n"] == 1);  // b was not evaluated

  // A run still training (no summary.json) whose dump cannot be read now is left out with a
  // note; the same for a finished run is an error.
  const auto training = dir.path() / "c";
  fs::create_directories(training);
  fs::copy_file(a / "config.toml", training / "config.toml");
  write(training / "attention.h5", "being written");
  const auto with_training = report::gather_report_data(request);
  CHECK(with_training["runs"].size() == 2);
  REQUIRE(with_training["skipped_dumps"].size() == 1);
  CHECK_THAT(with_training["skipped_dumps"][0].get<std::string>(), Catch::StartsWith("c: "));
  fs::copy_file(a / "summary.json", training / "summary.json");
  CHECK_THROWS_AS(report::gather_report_data(request), dump::DumpError);
  fs::remove_all(training);

  // A run's report with another run beside it for the explorer (--with).
  request.dir = a;
  request.with_runs = {b};
  const auto with = report::gather_report_data(request);
  REQUIRE(with["runs"].size() == 2);
  CHECK(with["runs"][0]["name"] == ".");
  CHECK(with["runs"][1]["name"] == "b");
  request.with_runs = {b / "nothing-here"};
  CHECK_THROWS_WITH(report::gather_report_data(request), Catch::Contains("--with"));
}

TEST_CASE("a group of one seed has a mean but no interval", "[report]") {
  report::ReportRequest request;
  request.dir = shared_run().parent_path();  // a folder holding one run
  request.maps = report::MapsMode::None;
  const auto data = report::gather_report_data(request);
  const auto& accuracy = data["comparison"]["groups"][0]["metrics"]["val_accuracy"];
  CHECK(accuracy["n"] == 1);
  CHECK(accuracy["mean"].is_number());
  CHECK(accuracy["std"].is_null());
  CHECK(accuracy["ci95"].is_null());
}

TEST_CASE("attnlab report exits 2 on bad input and writes nothing", "[report]") {
  testing::TempDir dir;
  const auto missing = run_attnlab({"report", (dir.path() / "missing").string()}, dir.path());
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.output, Catch::Contains("missing: not a directory"));

  const auto empty = run_attnlab({"report", dir.path().string()}, dir.path());
  CHECK(empty.exit_code == 2);
  CHECK_THAT(empty.output, Catch::Contains("no run"));

  fs::create_directories(dir.path() / "run");
  write(dir.path() / "run" / "config.toml", "seed = 0\n");
  const auto maps = run_attnlab({"report", (dir.path() / "run").string(), "--maps", "some"},
                                dir.path());
  CHECK(maps.exit_code == 2);
  CHECK_THAT(maps.output, Catch::Contains("--maps 'some'"));
  CHECK(!fs::exists(dir.path() / "run" / "report.html"));
}
