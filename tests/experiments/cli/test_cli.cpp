// The attnlab binary as a user meets it: --help everywhere, config show/doc, and every kind of
// bad input exiting with code 2, a message naming the problem, and nothing written.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"

using attnlab::testing::run_attnlab;
using attnlab::testing::TempDir;

namespace {

bool is_empty_dir(const std::filesystem::path& path) {
  return std::filesystem::is_empty(path);
}

void write(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

}  // namespace

TEST_CASE("every command has --help", "[cli]") {
  TempDir work;
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"--help"}, {"train", "--help"}, {"config", "--help"},
        {"config", "show", "--help"}, {"config", "doc", "--help"}, {"info", "--help"},
        {"variants", "--help"}, {"bench", "--help"}, {"bench", "attention", "--help"},
        {"bench", "record", "--help"}, {"eval", "--help"}, {"compare", "--help"},
        {"export", "--help"}, {"analyze", "--help"}, {"ablate", "--help"}}) {
    const auto result = run_attnlab(command, work.path());
    INFO(result.output);
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.output, Catch::Contains("Usage"));
  }
}

TEST_CASE("config show prints the resolved config with overrides applied", "[cli]") {
  TempDir work;
  const auto result = run_attnlab({"config", "show", "train.lr=3e-4", "variant=dot",
                                   "+extra.note=hello", "model.layers=3"},
                                  work.path());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::Contains("lr = 3e-4"));
  CHECK_THAT(result.output, Catch::Contains("score = \"dot\""));
  CHECK_THAT(result.output, Catch::Contains("name = \"dot\""));
  CHECK_THAT(result.output, Catch::Contains("note = \"hello\""));
  CHECK_THAT(result.output, Catch::Contains("layers = 3"));
  CHECK(is_empty_dir(work.path()));
}

TEST_CASE("config doc documents every key", "[cli]") {
  TempDir work;
  const auto result = run_attnlab({"config", "doc"}, work.path());
  REQUIRE(result.exit_code == 0);
  for (const char* key : {"train.lr", "model.d_model", "variant.score", "task.name",
                          "runtime.threads", "seed"}) {
    CHECK_THAT(result.output, Catch::Contains(key));
  }
  CHECK_THAT(result.output, Catch::Contains("peak learning rate"));
}

TEST_CASE("bad input exits 2, names the problem and writes nothing", "[cli]") {
  TempDir work;
  write(work.path() / "broken.toml", "defaults = [\"model/tiny\"]\n[train]\nlr = = 3\n");
  write(work.path() / "unknown_key.toml", "[train]\nlrr = 0.1\n");
  struct Case {
    std::vector<std::string> arguments;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {{"train", "train.lrr=0.1"}, {"train.lrr", "did you mean", "train.lr"}},
      {{"train", "train.steps=many"}, {"train.steps", "int", "many"}},
      {{"train", "train.lr=-1"}, {"train.lr", "> 0"}},
      {{"train", "model.heads=3"}, {"model.d_model", "model.heads"}},
      {{"train", "variant=nonesuch"}, {"nonesuch", "scaled", "dot"}},
      {{"train", "train.lr"}, {"malformed override", "train.lr"}},
      {{"train", "train.lr='unterminated"}, {"malformed override", "^"}},
      {{"train", "--config", "missing.toml"}, {"missing.toml"}},
      {{"train", "--config", "broken.toml"}, {"broken.toml", ":3:"}},
      {{"train", "--config", "unknown_key.toml"}, {"unknown_key.toml", "lrr", "train.lr"}},
      {{"train", "variant.score=softmax9"}, {"variant.score", "softmax9"}},
      {{"train", "runtime.progress=sometimes"}, {"runtime.progress", "bar"}},
      {{"train", "--resume", "no/such/run"}, {"no/such/run"}},
      {{"train", "--definitely-not-an-option"}, {"definitely-not-an-option"}},
      {{"config", "show", "+train.lr=1"}, {"train.lr"}},
      {{"train", "variant.window=0"}, {"variant.window", ">= 1"}},
      {{"train", "variant.pattern=diagonal"}, {"variant.pattern", "diagonal", "bigbird"}},
      {{"train", "variant=rope", "variant.score=additive"}, {"variant.position", "rope", "additive"}},
      {{"train", "variant=linear_taylor", "variant.taylor_dim=0"}, {"variant.taylor_dim", ">= 1"}},
      {{"train", "variant=linear_elu1", "variant.chunk=0"}, {"variant.chunk", ">= 1"}},
      {{"train", "variant=linear_elu1", "variant.pattern=topk"}, {"variant.pattern", "topk", "softmax"}},
      {{"train", "variant=linear_favor", "variant.position=alibi"}, {"variant.position", "alibi"}},
      {{"train", "variant=linear_elu1", "variant.softcap=30"}, {"variant.softcap", "kernel"}},
      {{"train", "variant=linear_elu1", "variant.normaliser=softmax"}, {"variant.normaliser", "softmax"}},
      {{"bench", "attention", "--lengths", "100", "--variants", "bigbird"}, {"variant.block", "100"}},
      {{"bench", "attention", "--variants", "nonesuch"}, {"nonesuch", "scaled"}},
      {{"bench", "attention", "train.lr=1"}, {"train.lr", "variant.*"}},
      {{"bench", "attention", "--lengths", "0"}, {"--lengths"}},
      {{"bench", "attention", "--paths", "linear,quadratic"}, {"--paths", "quadratic"}},
  };
  const auto before = std::distance(std::filesystem::directory_iterator(work.path()),
                                    std::filesystem::directory_iterator());
  for (const auto& bad : cases) {
    std::string joined;
    for (const auto& argument : bad.arguments) joined += argument + " ";
    DYNAMIC_SECTION(joined) {
      const auto result = run_attnlab(bad.arguments, work.path());
      INFO(result.output);
      CHECK(result.exit_code == 2);
      for (const auto& fragment : bad.expected) CHECK_THAT(result.output, Catch::Contains(fragment));
      CHECK_FALSE(std::filesystem::exists(work.path() / "results"));
      CHECK(std::distance(std::filesystem::directory_iterator(work.path()),
                          std::filesystem::directory_iterator()) == before);
    }
  }
}

TEST_CASE("compare --induction-timing on a damaged dump exits 2 naming it, writing nothing",
          "[cli]") {
  TempDir work;
  const auto run = work.path() / "runs" / "000-seed=0";
  write(run / "config.toml", "seed = 0\n[task]\nname = \"induction\"\n");
  write(run / "summary.json", "{\"status\": \"completed\"}");
  write(run / "metrics.jsonl",
        "{\"step\": 25, \"split\": \"val\", \"loss\": 1.0, \"accuracy\": 0.5, "
        "\"icl_score\": -0.1}\n");
  write(run / "attention.h5", "not an HDF5 file");
  const auto result =
      run_attnlab({"compare", (work.path() / "runs").string(), "--induction-timing"}, work.path());
  INFO(result.output);
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.output, Catch::Contains("attention.h5"));
  CHECK_FALSE(std::filesystem::exists(work.path() / "runs" / "compare"));
}

TEST_CASE("train writes a run directory and prints its path: --config reproduces it", "[cli]") {
  TempDir work;
  const std::vector<std::string> budget = {"train.steps=12", "train.eval_every=6",
                                           "train.log_every=3", "task.val_examples=32",
                                           "runtime.threads=1"};
  auto arguments = std::vector<std::string>{"train"};
  arguments.insert(arguments.end(), budget.begin(), budget.end());
  const auto first = run_attnlab(arguments, work.path());
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  const auto last_line = first.output.substr(first.output.rfind("results/"));
  const std::filesystem::path run_dir =
      work.path() / last_line.substr(0, last_line.find_first_of("\n"));
  REQUIRE(std::filesystem::exists(run_dir / "summary.json"));
  CHECK(run_dir.parent_path().filename() == "default");

  const auto again = run_attnlab({"train", "--config", (run_dir / "config.toml").string(),
                                  "--run-dir", (work.path() / "again").string()},
                                 work.path());
  INFO(again.output);
  REQUIRE(again.exit_code == 0);
  std::ifstream a(run_dir / "metrics.jsonl"), b(work.path() / "again" / "metrics.jsonl");
  std::string line_a, line_b;
  int compared = 0;
  while (std::getline(a, line_a) && std::getline(b, line_b)) {
    // Same losses and accuracies; timing fields differ.
    CHECK(line_a.substr(0, line_a.find("\"tokens_per_s\"")) ==
          line_b.substr(0, line_b.find("\"tokens_per_s\"")));
    ++compared;
  }
  CHECK(compared == 6);
}

namespace {

// Each line of a CSV file split at commas (the bench's fields hold none).
std::vector<std::vector<std::string>> csv_fields(const std::filesystem::path& path) {
  std::ifstream csv(path);
  std::vector<std::vector<std::string>> lines;
  for (std::string line; std::getline(csv, line);) {
    std::vector<std::string> fields;
    std::stringstream fields_text(line);
    for (std::string field; std::getline(fields_text, field, ',');) fields.push_back(field);
    lines.push_back(fields);
  }
  return lines;
}

// name -> its index in the header (header.size() when absent).
std::function<std::size_t(const std::string&)> column_finder(std::vector<std::string> header) {
  return [header = std::move(header)](const std::string& name) {
    return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
}

}  // namespace

TEST_CASE("bench attention times the path each row names and says which one ran", "[cli][bench]") {
  TempDir work;
  // T = 64 is below variant.materialise_max, where forward() takes the fused path (scaled) or the
  // plain one (topk): a chunked row must still time the chunked path.
  const auto result = run_attnlab({"bench", "attention", "--lengths", "64", "--variants",
                                   "scaled,topk", "--heads", "2", "--head-dim", "16", "--repeats",
                                   "1", "--threads", "1", "--output", "attention.csv"},
                                  work.path());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  const auto lines = csv_fields(work.path() / "attention.csv");
  REQUIRE(lines.size() == 5);  // the header and a row per variant and path
  const auto column = column_finder(lines.front());
  REQUIRE(column("timed_path") < lines.front().size());
  const std::map<std::string, std::string> timed = {{"chunked", "chunked"},
                                                    {"plain", "plain"}};
  for (std::size_t row = 1; row < lines.size(); ++row) {
    const auto& fields = lines[row];
    INFO(fields[column("variant")] << " " << fields[column("path")]);
    CHECK(fields[column("timed_path")] == timed.at(fields[column("path")]));
  }
}

TEST_CASE("bench attention reports every stage and the paths a variant's parts can take",
          "[cli][bench]") {
  TempDir work;
  // Sigmoid attention has neither a fused nor a chunked path: only its plain row is measured.
  const auto result = run_attnlab(
      {"bench", "attention", "--lengths", "32", "--variants", "scaled", "--paths",
       "chunked,fused,plain", "--heads", "4", "--head-dim", "8", "--repeats", "1", "--threads",
       "1", "--output", "attention.csv", "variant.normaliser=sigmoid", "variant.kv_heads=2"},
      work.path());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::Contains("scaled has no chunked path"));
  CHECK_THAT(result.output, Catch::Contains("scaled has no fused path"));
  const auto lines = csv_fields(work.path() / "attention.csv");
  REQUIRE(lines.size() == 2);
  const auto column = column_finder(lines.front());
  const auto& row = lines[1];
  CHECK(row.at(column("path")) == "plain");
  CHECK(row.at(column("normaliser")) == "sigmoid");
  CHECK(row.at(column("kv_heads")) == "2");
  CHECK(row.at(column("qk_norm")) == "none");
  CHECK(std::stod(row.at(column("kv_projection_ms"))) > 0.0);
}

TEST_CASE("bench attention times linear attention on its path and fits how each path scales",
          "[cli][bench]") {
  TempDir work;
  // Softmax attention has no linear path and linear attention no chunked one: a note for each.
  const auto result = run_attnlab(
      {"bench", "attention", "--lengths", "64,128,256", "--variants", "scaled,linear_elu1",
       "--paths", "chunked,linear", "--heads", "2", "--head-dim", "8", "--repeats", "1",
       "--threads", "1", "--output", "bench/linear.csv"},
      work.path());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::Contains("scaled has no linear path"));
  CHECK_THAT(result.output, Catch::Contains("linear_elu1 has no chunked path"));
  CHECK_THAT(result.output, Catch::Contains("scaling with T"));
  const auto lines = csv_fields(work.path() / "bench" / "linear.csv");
  REQUIRE(lines.size() == 7);  // the header, three lengths of scaled chunked and elu1 linear
  const auto column = column_finder(lines.front());
  for (std::size_t row = 1; row < lines.size(); ++row) {
    const auto& fields = lines[row];
    INFO(fields[column("variant")] << " " << fields[column("path")]);
    CHECK(fields[column("timed_path")] == fields[column("path")]);
    CHECK(fields[column("path")] == (fields[column("variant")] == "scaled" ? "chunked" : "linear"));
    CHECK(fields[column("forward_backward_ms")] != "nan");  // what a failed row holds
  }
  const auto fits = csv_fields(work.path() / "bench" / "linear_scaling.csv");
  REQUIRE(fits.size() == 3);  // the header and one fit per (variant, path)
  const auto fit_column = column_finder(fits.front());
  REQUIRE(fit_column("time_exponent") < fits.front().size());
  REQUIRE(fit_column("memory_exponent") < fits.front().size());
  CHECK(fits[1][fit_column("variant")] == "scaled");
  CHECK(fits[1][fit_column("path")] == "chunked");
  CHECK(fits[2][fit_column("variant")] == "linear_elu1");
  CHECK(fits[2][fit_column("path")] == "linear");
  for (std::size_t fit = 1; fit < fits.size(); ++fit) {
    CHECK(fits[fit][fit_column("points")] == "3");
    CHECK(fits[fit][fit_column("T_min")] == "64");
    CHECK(fits[fit][fit_column("T_max")] == "256");
    // A fitted number; its value at these tiny sizes is overhead and the shared machine's noise
    // (tests/experiments/bench/test_attention_scaling.cpp holds the fit to known exponents).
    CHECK(std::isfinite(std::stod(fits[fit][fit_column("time_exponent")])));
  }
}
