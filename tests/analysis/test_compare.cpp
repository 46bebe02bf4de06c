// attnlab compare on hand-made run directories: statistics over seeds with known answers,
// grouping by the keys that differ (never the seed), ranking per task, unfinished runs kept apart,
// and the files a paper needs.
#include <catch2/catch.hpp>

#include <fstream>

#include "analysis/compare/comparison.h"
#include "tests/support/temp_dir.h"

using namespace attnlab::analysis;

namespace {

void write(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

void make_run(const std::filesystem::path& dir, const std::string& variant, int seed,
              double accuracy, bool finished = true, const std::string& task = "copy",
              const std::string& variant_keys = "") {
  write(dir / "config.toml", "seed = " + std::to_string(seed) + "\n[variant]\nname = \"" +
                                 variant + "\"\n" + variant_keys + "[task]\nname = \"" +
                                 task + "\"\n[runtime]\nthreads = " + std::to_string(seed + 1) +
                                 "\n");
  write(dir / "metrics.jsonl",
        "{\"step\": 10, \"split\": \"val\", \"loss\": 1.0, \"accuracy\": 0.5}\n"
        "{\"step\": 20, \"split\": \"val\", \"loss\": 0.5, \"accuracy\": " +
            std::to_string(accuracy) + "}\n");
  if (finished) {
    write(dir / "summary.json",
          "{\"status\": \"completed\", \"final\": {\"val_accuracy\": " + std::to_string(accuracy) +
              ", \"val_loss\": " + std::to_string(1.0 - accuracy) +
              "}, \"tokens_per_s\": 1000, \"peak_rss_mb\": 100, \"parameters\": 5000}");
  }
}

}  // namespace

TEST_CASE("labels leave out keys that the chosen group option determines", "[compare]") {
  attnlab::testing::TempDir root;
  // variant.score follows variant.name; variant.window varies on its own within one name.
  make_run(root.path() / "a", "scaled", 0, 0.9, true, "copy", "score = \"scaled\"\nwindow = 4\n");
  make_run(root.path() / "b", "scaled", 0, 0.8, true, "copy", "score = \"scaled\"\nwindow = 8\n");
  make_run(root.path() / "c", "dot", 0, 0.7, true, "copy", "score = \"dot\"\nwindow = 8\n");
  const auto comparison = compare_runs(load_runs({root.path()}));
  CHECK(comparison.varying_keys ==
        std::vector<std::string>{"variant.name", "variant.score", "variant.window"});
  REQUIRE(comparison.groups.size() == 3);
  CHECK(comparison.groups[0].label == "variant.name=scaled, variant.window=4");
  CHECK(comparison.groups[1].label == "variant.name=scaled, variant.window=8");
  CHECK(comparison.groups[2].label == "variant.name=dot, variant.window=8");
  CHECK(comparison.groups[2].keys.at("variant.score") == "dot");  // still recorded per group
}

TEST_CASE("summaries over seeds: mean, sample std and a t-based 95% CI", "[compare]") {
  const auto summary = summarise({1.0, 2.0, 3.0, 4.0});
  CHECK(summary.n == 4);
  CHECK(summary.mean == Approx(2.5));
  CHECK(summary.std == Approx(std::sqrt(5.0 / 3.0)));
  CHECK(summary.ci95 == Approx(3.182 * std::sqrt(5.0 / 3.0) / 2.0));
  CHECK(summarise({0.7}).ci95 == 0.0);
  CHECK(summarise({0.7}).std == 0.0);
  CHECK(summarise({2.0, 4.0}).ci95 == Approx(12.706 * std::sqrt(2.0) / std::sqrt(2.0)));
  CHECK(t_quantile_975(1) == Approx(12.706));
  CHECK(t_quantile_975(1000) == Approx(1.962).epsilon(1e-3));
}

TEST_CASE("runs group by differing keys, not by seed: unfinished runs stay apart", "[compare]") {
  attnlab::testing::TempDir root;
  make_run(root.path() / "a0", "scaled", 0, 0.90);
  make_run(root.path() / "a1", "scaled", 1, 0.94);
  make_run(root.path() / "b0", "dot", 0, 0.60);
  make_run(root.path() / "b1", "dot", 1, 0.70);
  make_run(root.path() / "b2", "dot", 2, 0.10, /*finished=*/false);
  const auto runs = load_runs({root.path()});
  REQUIRE(runs.size() == 5);
  const auto comparison = compare_runs(runs);
  CHECK(comparison.varying_keys == std::vector<std::string>{"variant.name"});
  REQUIRE(comparison.groups.size() == 2);
  CHECK(comparison.groups[0].label == "variant.name=scaled");
  CHECK(comparison.groups[0].rank == 1);
  CHECK(comparison.groups[0].runs.size() == 2);
  CHECK(comparison.groups[0].metrics.at("val_accuracy").mean == Approx(0.92));
  CHECK(comparison.groups[1].label == "variant.name=dot");
  CHECK(comparison.groups[1].rank == 2);
  CHECK(comparison.groups[1].metrics.at("val_accuracy").mean == Approx(0.65));  // b2 not in
  REQUIRE(comparison.not_completed.size() == 1);
  CHECK(comparison.not_completed[0]->dir.filename() == "b2");

  const auto table = comparison_table(comparison);
  CHECK_THAT(table, Catch::Contains("not completed"));
  CHECK_THAT(table, Catch::Contains("b2"));

  const auto out = root.path() / "report";
  const auto files = write_comparison(comparison, out);
  for (const char* name : {"compare.md", "compare.csv", "curves-copy.svg", "bars-copy.svg"}) {
    INFO(name);
    CHECK(std::filesystem::file_size(out / name) > 100);
  }
  std::ifstream csv(out / "compare.csv");
  std::string header;
  std::getline(csv, header);
  CHECK(header == "task,group,rank,metric,n,mean,std,ci95,min,max");
  std::ifstream svg(out / "curves-copy.svg");
  const std::string drawing((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
  CHECK_THAT(drawing, Catch::Contains("<polygon"));  // the band over seeds
  CHECK_THAT(drawing, Catch::Contains("variant.name=dot"));
}

TEST_CASE("groups are ranked within their own task", "[compare]") {
  attnlab::testing::TempDir root;
  make_run(root.path() / "c", "scaled", 0, 0.5, true, "copy");
  make_run(root.path() / "d", "dot", 0, 0.9, true, "copy");
  make_run(root.path() / "e", "scaled", 0, 0.3, true, "mqar");
  const auto comparison = compare_runs(load_runs({root.path()}));
  REQUIRE(comparison.groups.size() == 3);
  CHECK(comparison.groups[0].task == "copy");
  CHECK(comparison.groups[0].rank == 1);
  CHECK(comparison.groups[1].rank == 2);
  CHECK(comparison.groups[2].task == "mqar");
  CHECK(comparison.groups[2].rank == 1);
}

TEST_CASE("compare refuses a folder without runs", "[compare]") {
  attnlab::testing::TempDir root;
  CHECK_THROWS_AS(load_runs({root.path()}), std::invalid_argument);
  CHECK_THROWS_AS(load_runs({root.path() / "missing"}), std::invalid_argument);
}
