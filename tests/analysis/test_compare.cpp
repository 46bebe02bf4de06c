// attnlab compare on hand-made run directories: statistics over seeds with known answers,
// grouping by the keys that differ (never the seed), ranking per task, unfinished runs kept apart,
// the files a paper needs, and `--tune`: a choice on validation scores only, reported on test.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <limits>
#include <optional>
#include <set>

#include "analysis/compare/compare_folders.h"
#include "analysis/compare/comparison.h"
#include "analysis/compare/induction_timing.h"
#include "analysis/compare/length_generalisation.h"
#include "analysis/compare/tuning.h"
#include "analysis/compare/tuning_figure.h"
#include "analysis/compare/tuning_report.h"
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

TEST_CASE("labels leave out the task, shown by itself, and empty layer lists", "[compare]") {
  attnlab::testing::TempDir root;
  const auto layers = [](const std::string& list) {
    return "[model]\nlayer_variants = " + list + "\n";
  };
  make_run(root.path() / "a", "scaled", 0, 0.9, true, "copy", layers("[]"));
  make_run(root.path() / "b", "linear_elu1", 0, 0.3, true, "copy", layers("[]"));
  make_run(root.path() / "c", "scaled", 0, 0.6, true, "copy",
           layers("[\"linear_taylor\", \"local\"]"));
  make_run(root.path() / "d", "scaled", 0, 0.8, true, "reverse", layers("[]"));
  const auto runs = load_runs({root.path()});
  const auto comparison = compare_runs(runs);
  std::set<std::string> groups;
  for (const auto& group : comparison.groups) groups.insert(group.task + ": " + group.label);
  // A hybrid stack keeps its variant.name: its layer presets lay their keys over variant.*.
  CHECK(groups == std::set<std::string>{
                      "copy: variant.name=scaled", "copy: variant.name=linear_elu1",
                      "copy: model.layer_variants=[ 'linear_taylor', 'local' ], "
                      "variant.name=scaled",
                      "reverse: variant.name=scaled"});
}

TEST_CASE("a key older runs lack does not split them from runs that agree on it", "[compare]") {
  attnlab::testing::TempDir root;
  const std::string added = "[model]\nadded = true\n";  // a key attnlab gained since run c
  make_run(root.path() / "a", "scaled", 0, 0.9, true, "copy", added);
  make_run(root.path() / "b", "dot", 0, 0.8, true, "copy", added);
  make_run(root.path() / "c", "scaled", 1, 0.7, true, "copy");
  auto comparison = compare_runs(load_runs({root.path()}));
  CHECK(comparison.varying_keys == std::vector<std::string>{"variant.name"});
  REQUIRE(comparison.groups.size() == 2);
  for (const auto& group : comparison.groups) {
    if (group.label == "variant.name=scaled") CHECK(group.runs.size() == 2);  // a and c
  }
  // Runs that have the key and differ on it still split, the older run apart.
  make_run(root.path() / "d", "scaled", 2, 0.6, true, "copy", "[model]\nadded = false\n");
  comparison = compare_runs(load_runs({root.path()}));
  CHECK(comparison.varying_keys == std::vector<std::string>{"model.added", "variant.name"});
  CHECK(comparison.groups.size() == 4);
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

// ---- compare --tune ------------------------------------------------------------------------

namespace {

struct TunedRun {
  std::string variant = "scaled";
  std::string lr = "0.001";
  int seed = 0;
  double val_accuracy = 0.5;
  double val_loss = 1.0;
  std::optional<double> test_accuracy;  // none: no eval-test.json
  long tested_step = 20;
  std::string extra_train_keys;         // e.g. "width = 64\n"
  std::string variant_keys;             // e.g. "score = \"dot\"\n"
};

std::string number_or_null(double value) {
  return std::isnan(value) ? "null" : std::to_string(value);
}

// A finished run with validation rows at steps 10 and 20 (metrics.jsonl; the best step is 20)
// and, when tested, eval-test.json of the checkpoint at `tested_step`. The step-10 row scores
// 0.01 whatever the run, so reading the wrong step shows.
void make_tuned_run(const std::filesystem::path& dir, const TunedRun& run) {
  write(dir / "config.toml", "seed = " + std::to_string(run.seed) + "\n[variant]\nname = \"" +
                                 run.variant + "\"\n" + run.variant_keys +
                                 "[task]\nname = \"copy\"\n[train]\nlr = " +
                                 run.lr + "\n" + run.extra_train_keys);
  write(dir / "metrics.jsonl",
        "{\"step\": 10, \"split\": \"val\", \"loss\": 9.0, \"accuracy\": 0.01, "
        "\"sequence_accuracy\": 0.0}\n"
        "{\"step\": 20, \"split\": \"train\", \"loss\": 0.1, \"accuracy\": 0.99}\n"
        "{\"step\": 20, \"split\": \"val\", \"loss\": " + number_or_null(run.val_loss) +
            ", \"accuracy\": " + std::to_string(run.val_accuracy) +
            ", \"sequence_accuracy\": 0.0}\n");
  write(dir / "summary.json",
        "{\"status\": \"completed\", \"final\": {\"val_accuracy\": " +
            std::to_string(run.val_accuracy) + ", \"val_loss\": 1.0}, \"best\": {\"step\": 20}}");
  if (run.test_accuracy) {
    write(dir / "eval-test.json",
          "{\"split\": \"test\", \"step\": " + std::to_string(run.tested_step) +
              ", \"result\": {\"accuracy\": " + std::to_string(*run.test_accuracy) +
              ", \"loss\": " + std::to_string(1.0 - *run.test_accuracy) + "}}");
  }
}

// Two variants, three learning rates, two seeds. On validation, lr 0.003 is best for scaled and
// 0.0001 for dot; on test the order is reversed, so a choice that peeked at test data differs.
void make_lr_sweep(const std::filesystem::path& root) {
  const std::map<std::string, std::map<std::string, std::pair<double, double>>> scores = {
      {"scaled", {{"0.0001", {0.50, 0.90}}, {"0.001", {0.60, 0.80}}, {"0.003", {0.70, 0.40}}}},
      {"dot", {{"0.0001", {0.65, 0.30}}, {"0.001", {0.55, 0.50}}, {"0.003", {0.45, 0.95}}}},
  };
  for (const auto& [variant, by_lr] : scores) {
    for (const auto& [lr, score] : by_lr) {
      for (int seed = 0; seed < 2; ++seed) {
        TunedRun run;
        run.variant = variant, run.lr = lr, run.seed = seed;
        run.val_accuracy = score.first + 0.02 * seed;
        run.val_loss = 1.0 - run.val_accuracy;
        run.test_accuracy = score.second + 0.04 * seed;
        make_tuned_run(root / (variant + "-" + lr + "-" + std::to_string(seed)), run);
      }
    }
  }
}

const TunedGroup& group_named(const TunedComparison& tuned, const std::string& label) {
  for (const auto& group : tuned.groups) {
    if (group.label == label) return group;
  }
  FAIL("no tuned group " << label);
  throw std::logic_error("unreachable");
}

// The fields of a CSV line whose quoted fields hold no comma.
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> fields(1);
  for (char c : line) {
    if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("compare --tune picks each group's setting on validation and reports its test score",
          "[compare][tune]") {
  attnlab::testing::TempDir root;
  make_lr_sweep(root.path());
  const auto runs = load_runs({root.path()});
  const auto comparison = compare_runs(runs);
  const auto tuned = tune_comparison(comparison, {{"train.lr"}, "accuracy"});
  CHECK(tuned.tuned_keys == std::vector<std::string>{"train.lr"});
  CHECK(tuned.group_keys == std::vector<std::string>{"variant.name"});
  REQUIRE(tuned.groups.size() == 2);

  const auto& scaled = group_named(tuned, "variant.name=scaled");
  REQUIRE(scaled.settings.size() == 3);
  CHECK(scaled.settings[0].values.at("train.lr") == "0.0001");  // numeric order, not text
  CHECK(scaled.settings[2].values.at("train.lr") == "0.003");
  CHECK(scaled.choice().values.at("train.lr") == "0.003");  // best validation, worst test
  CHECK(scaled.choice().validation.mean == Approx(0.71));
  CHECK(scaled.test.n == 2);
  CHECK(scaled.test.mean == Approx(0.42));
  CHECK(scaled.test.ci95 == Approx(summarise({0.40, 0.44}).ci95));
  CHECK(scaled.untested.empty());

  const auto& dot = group_named(tuned, "variant.name=dot");
  CHECK(dot.choice().values.at("train.lr") == "0.0001");
  CHECK(dot.test.mean == Approx(0.32));
  // Ranked by test score: scaled (0.42) above dot (0.32).
  CHECK(tuned.groups[0].label == "variant.name=scaled");
  CHECK(tuned.groups[0].rank == 1);
  CHECK(tuned.groups[1].rank == 2);
}

TEST_CASE("compare --tune never reads test scores to choose", "[compare][tune]") {
  attnlab::testing::TempDir root;
  make_lr_sweep(root.path());
  // The test scores of every setting but the validation-best ones made far better: the choice
  // must not move. Only the tested step is read from eval-test.json, never a score.
  for (const auto& entry : std::filesystem::directory_iterator(root.path())) {
    const auto name = entry.path().filename().string();
    if (name.rfind("scaled-0.003", 0) == 0 || name.rfind("dot-0.0001", 0) == 0) continue;
    write(entry.path() / "eval-test.json",
          "{\"step\": 20, \"result\": {\"accuracy\": 1.0, \"loss\": 0.0}}");
  }
  const auto runs = load_runs({root.path()});  // the comparison points into them
  const auto comparison = compare_runs(runs);
  const auto tuned = tune_comparison(comparison, {{"train.lr"}, "accuracy"});
  CHECK(group_named(tuned, "variant.name=scaled").choice().values.at("train.lr") == "0.003");
  CHECK(group_named(tuned, "variant.name=dot").choice().values.at("train.lr") == "0.0001");
}

TEST_CASE("compare --tune respects the metric's direction: loss is chosen low", "[compare][tune]") {
  attnlab::testing::TempDir root;
  // Accuracy prefers lr 0.001, loss prefers 0.003: the two directions pick differently.
  make_tuned_run(root.path() / "a", {"scaled", "0.001", 0, 0.8, 0.9, 0.7});
  make_tuned_run(root.path() / "b", {"scaled", "0.003", 0, 0.6, 0.3, 0.5});
  const auto runs = load_runs({root.path()});  // the comparison points into them
  const auto comparison = compare_runs(runs);
  const auto by_accuracy = tune_comparison(comparison, {{"train.lr"}, "accuracy"});
  const auto by_loss = tune_comparison(comparison, {{"train.lr"}, "loss"});
  CHECK(by_accuracy.groups[0].choice().values.at("train.lr") == "0.001");
  CHECK(by_loss.groups[0].choice().values.at("train.lr") == "0.003");
  CHECK(by_loss.groups[0].test.mean == Approx(0.5));  // eval-test.json's loss: 1 - 0.5
  CHECK_THROWS_WITH(tune_comparison(comparison, {{"train.lr"}, "f1"}),
                    Catch::Contains("--tune-metric f1"));
}

TEST_CASE("compare --tune reads the validation score of the checkpoint that was tested",
          "[compare][tune]") {
  attnlab::testing::TempDir root;
  // Run b was tested at step 10, where its validation accuracy is 0.01 (make_tuned_run): a
  // choice on the step-20 score would take b.
  make_tuned_run(root.path() / "a", {"scaled", "0.001", 0, 0.5, 0.5, 0.5, 20});
  make_tuned_run(root.path() / "b", {"scaled", "0.003", 0, 0.9, 0.1, 0.5, 10});
  const auto runs = load_runs({root.path()});
  const auto comparison = compare_runs(runs);  // the tuned groups point into both
  const auto tuned = tune_comparison(comparison, {{"train.lr"}});
  CHECK(tuned.groups[0].choice().values.at("train.lr") == "0.001");
  CHECK(tuned.groups[0].settings[1].validation.mean == Approx(0.01));
}

TEST_CASE("compare --tune never chooses a diverged setting", "[compare][tune]") {
  attnlab::testing::TempDir root;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // The diverged setting comes first, so a NaN incumbent must lose to a finite score too.
  make_tuned_run(root.path() / "a", {"scaled", "0.0001", 0, 0.0, nan, 0.0});
  make_tuned_run(root.path() / "b", {"scaled", "0.001", 0, 0.3, 2.0, 0.3});
  const auto runs = load_runs({root.path()});
  const auto comparison = compare_runs(runs);  // the tuned groups point into both
  const auto tuned = tune_comparison(comparison, {{"train.lr"}, "loss"});
  CHECK(tuned.groups[0].choice().values.at("train.lr") == "0.001");
}

TEST_CASE("compare --tune over two keys chooses their best combination", "[compare][tune]") {
  attnlab::testing::TempDir root;
  int index = 0;
  for (const std::string lr : {"0.001", "0.003"}) {
    for (const std::string width : {"32", "64"}) {
      TunedRun run{"scaled", lr, 0, lr == "0.001" && width == "64" ? 0.9 : 0.5};
      run.test_accuracy = 0.5;
      run.extra_train_keys = "width = " + width + "\n";
      make_tuned_run(root.path() / std::to_string(index++), run);
    }
  }
  const auto runs = load_runs({root.path()});
  const auto comparison = compare_runs(runs);  // the tuned groups point into both
  const auto tuned = tune_comparison(comparison,
                                     {{"train.width", "train.lr", "train.lr"}});
  CHECK(tuned.tuned_keys == std::vector<std::string>{"train.width", "train.lr"});
  REQUIRE(tuned.groups.size() == 1);
  CHECK(tuned.groups[0].label == "scaled");  // nothing else differs: the variant names it
  CHECK(tuned.groups[0].settings.size() == 4);
  CHECK(tuned.groups[0].choice().values ==
        std::map<std::string, std::string>{{"train.lr", "0.001"}, {"train.width", "64"}});
}

TEST_CASE("compare --tune over a group choice tunes the keys that follow it", "[compare][tune]") {
  attnlab::testing::TempDir root;
  // variant.score follows variant.name: tuning the name must not group by the score.
  int index = 0;
  for (const std::string variant : {"scaled", "dot"}) {
    for (const std::string lr : {"0.001", "0.003"}) {
      TunedRun run{variant, lr, 0, variant == "dot" ? 0.8 : 0.6, 0.5, 0.5};
      run.variant_keys = "score = \"" + variant + "\"\n";
      make_tuned_run(root.path() / std::to_string(index++), run);
    }
  }
  const auto runs = load_runs({root.path()});
  const auto comparison = compare_runs(runs);
  const auto tuned = tune_comparison(comparison, {{"variant.name"}});
  CHECK(tuned.group_keys == std::vector<std::string>{"train.lr"});
  REQUIRE(tuned.groups.size() == 2);
  CHECK(tuned.groups[0].settings.size() == 2);
  CHECK(tuned.groups[0].choice().values.at("variant.name") == "dot");
}

TEST_CASE("compare --tune refuses a run without a validation score", "[compare][tune]") {
  attnlab::testing::TempDir root;
  make_tuned_run(root.path() / "a", {"scaled", "0.001", 0, 0.5, 0.5, 0.5});
  make_tuned_run(root.path() / "b", {"scaled", "0.003", 0, 0.5, 0.5, 0.5});
  write(root.path() / "b" / "metrics.jsonl", "{\"step\": 20, \"split\": \"train\", \"loss\": 1}\n");
  const auto runs = load_runs({root.path()});  // the comparison points into them
  const auto comparison = compare_runs(runs);
  CHECK_THROWS_WITH(tune_comparison(comparison, {{"train.lr"}}),
                    Catch::Contains("validation") && Catch::Contains("/b"));
}

TEST_CASE("compare --tune bad input: a key not swept, or fixed within a group, names key and group",
          "[compare][tune]") {
  attnlab::testing::TempDir root;
  make_tuned_run(root.path() / "s1", {"scaled", "0.001", 0, 0.5, 0.5, 0.5});
  make_tuned_run(root.path() / "s3", {"scaled", "0.003", 0, 0.6, 0.4, 0.5});
  make_tuned_run(root.path() / "d1", {"dot", "0.001", 0, 0.5, 0.5, 0.5});
  make_tuned_run(root.path() / "d1-seed1", {"dot", "0.001", 1, 0.5, 0.5, 0.5});
  const auto out = root.path() / "out";
  auto request = [&](std::vector<std::string> keys) {
    CompareRequest compare{{root.path()}, out, {std::move(keys), "accuracy"}};
    return compare;
  };
  // dot ran one learning rate only.
  CHECK_THROWS_WITH(compare_folders(request({"train.lr"})),
                    Catch::Contains("--tune train.lr") && Catch::Contains("variant.name=dot") &&
                        Catch::Contains("does not vary"));
  CHECK_THROWS_WITH(compare_folders(request({"task.name"})),
                    Catch::Contains("--tune task.name") && Catch::Contains("not swept"));
  CHECK_THROWS_WITH(compare_folders(request({"model.d_model"})),
                    Catch::Contains("--tune model.d_model") && Catch::Contains("no run has"));
  CHECK_THROWS_WITH(compare_folders(request({"seed"})), Catch::Contains("--tune seed"));
  CHECK_THROWS_WITH(compare_folders({{root.path()}, out, {{}, "loss"}}),
                    Catch::Contains("--tune-metric loss"));
  CHECK_FALSE(std::filesystem::exists(out));  // refused before anything was written
}

TEST_CASE("compare --tune writes the tuned table, compare_tuned.csv and a figure per task and key",
          "[compare][tune]") {
  attnlab::testing::TempDir root;
  make_lr_sweep(root.path() / "runs");
  // scaled's chosen seed 1 was never tested: its test column holds seed 0 only, and says so.
  std::filesystem::remove(root.path() / "runs" / "scaled-0.003-1" / "eval-test.json");
  const auto out = root.path() / "out";
  const auto result = compare_folders({{root.path() / "runs"}, out, {{"train.lr"}, "accuracy"}});
  CHECK_THAT(result.table, Catch::Contains("train.lr=0.003"));
  CHECK_THAT(result.table, Catch::Contains("scaled-0.003-1"));  // listed as untested
  for (const char* name :
       {"compare.md", "compare.csv", "compare_tuned.csv", "tune-copy-train_lr.svg"}) {
    INFO(name);
    CHECK(std::filesystem::file_size(out / name) > 100);
  }
  const auto markdown = read_text(out / "compare.md");
  CHECK_THAT(markdown, Catch::Contains("# Comparison"));  // the untuned table is still there
  CHECK_THAT(markdown, Catch::Contains("## Tuned over `train.lr`"));
  CHECK_THAT(markdown,
             Catch::Contains("| 2 | copy | variant.name=dot | train.lr=0.0001 | 3 | 2 |"));

  std::ifstream csv(out / "compare_tuned.csv");
  std::string header, first, second;
  std::getline(csv, header);
  std::getline(csv, first);   // scaled: test 0.40 (seed 0 only)
  std::getline(csv, second);  // dot: test 0.32
  CHECK(header == "task,group,rank,variant.name,chosen_train.lr,settings_tried,metric,seeds,"
                  "val_mean,val_std,test_n,test_mean,test_std,test_ci95");
  // dot: tested on both seeds (0.30, 0.34); scaled: seed 0 only (0.40), so no CI.
  const auto dot = csv_fields(second);
  REQUIRE(dot.size() == 14);
  CHECK(std::vector<std::string>(dot.begin(), dot.begin() + 8) ==
        std::vector<std::string>{"copy", "variant.name=dot", "2", "dot", "0.0001", "3",
                                 "accuracy", "2"});
  CHECK(std::stod(dot[8]) == Approx(0.66));
  CHECK(dot[10] == "2");
  CHECK(std::stod(dot[11]) == Approx(0.32));
  CHECK(std::stod(dot[13]) == Approx(summarise({0.30, 0.34}).ci95));
  const auto scaled = csv_fields(first);
  REQUIRE(scaled.size() == 14);
  CHECK(scaled[4] == "0.003");
  CHECK(std::vector<std::string>(scaled.begin() + 10, scaled.end()) ==
        std::vector<std::string>{"1", "0.4", "0", "0"});

  const auto figure = read_text(out / "tune-copy-train_lr.svg");
  CHECK_THAT(figure, Catch::Contains("log10(train.lr)"));  // 0.0001 to 0.003: a log axis
  CHECK_THAT(figure, Catch::Contains("variant.name=scaled"));
  CHECK_THAT(figure, Catch::Contains("variant.name=dot"));
}

TEST_CASE("a chosen setting without test scores is reported, unranked, never replaced",
          "[compare][tune]") {
  attnlab::testing::TempDir root;
  make_tuned_run(root.path() / "a", {"scaled", "0.001", 0, 0.5, 0.5});  // never tested
  make_tuned_run(root.path() / "b", {"scaled", "0.003", 0, 0.4, 0.6, 0.9});
  const auto runs = load_runs({root.path()});
  const auto comparison = compare_runs(runs);  // the tuned groups point into both
  const auto tuned = tune_comparison(comparison, {{"train.lr"}});
  CHECK(tuned.groups[0].choice().values.at("train.lr") == "0.001");
  CHECK(tuned.groups[0].test.n == 0);
  CHECK(tuned.groups[0].rank == 0);
  REQUIRE(tuned.groups[0].untested.size() == 1);
  const auto csv = tuned_csv(tuned);
  CHECK_THAT(csv, Catch::EndsWith(",1,0.5,0,0,,,\n"));  // empty test fields: NaN in pandas
  CHECK_THAT(tuned_table(tuned), Catch::Contains("attnlab eval --run"));
}

// ---- compare --induction-timing ------------------------------------------------------------

TEST_CASE("a transition is where a curve first crosses halfway from its first value to its extreme",
          "[compare][timing]") {
  // Halfway is 0.5, crossed between 0.3 at step 75 and 0.8 at step 100: at 75 + 25 * 0.2 / 0.5.
  const Curve rising{{25, 50, 75, 100, 125}, {0.1, 0.12, 0.3, 0.8, 0.9}};
  CHECK(transition_step(rising, Direction::Rising, kLeastPrefixMatchingRise).value() ==
        Approx(85.0));
  // Halfway is -1.8, crossed between -0.1 at 100 and -2.5 at 150.
  const Curve falling{{50, 100, 150, 200}, {0.2, -0.1, -2.5, -3.8}};
  CHECK(transition_step(falling, Direction::Falling, kLeastIclDrop).value() ==
        Approx(100.0 + 50.0 * 1.7 / 2.4));
  // A peak counts, not the last value: a score that rises then sags still rose.
  const Curve sagging{{1, 2, 3}, {0.0, 0.9, 0.6}};
  CHECK(transition_step(sagging, Direction::Rising, 0.3).value() == Approx(1.5));
  // Too small a change is no transition, in either direction.
  const Curve flat{{1, 2, 3}, {0.1, 0.2, 0.25}};
  CHECK_FALSE(transition_step(flat, Direction::Rising, 0.3).has_value());
  CHECK_FALSE(transition_step(rising, Direction::Falling, 0.3).has_value());
  // Missing values are skipped, and an empty curve has no transition.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Curve gaps{{1, 2, 3, 4}, {nan, 0.0, nan, 1.0}};
  CHECK(transition_step(gaps, Direction::Rising, 0.3).value() == Approx(3.0));
  CHECK_FALSE(transition_step(Curve{}, Direction::Rising, 0.3).has_value());
}

TEST_CASE("compare --induction-timing refuses runs without icl_score or a recording, naming them",
          "[compare][timing]") {
  attnlab::testing::TempDir root;
  make_run(root.path() / "copy-run", "scaled", 0, 0.9);
  CompareRequest request;
  request.dirs = {root.path()};
  request.induction_timing = true;
  try {
    compare_folders(request);
    FAIL("a run without icl_score was accepted");
  } catch (const std::invalid_argument& error) {
    CHECK_THAT(error.what(), Catch::Matchers::Contains("copy-run") &&
                                 Catch::Matchers::Contains("icl_score"));
  }
  // With the metric but no dump: the recording is named.
  write(root.path() / "copy-run" / "metrics.jsonl",
        "{\"step\": 10, \"split\": \"val\", \"loss\": 1.0, \"accuracy\": 0.5, \"icl_score\": 0}\n");
  try {
    compare_folders(request);
    FAIL("a run without attention.h5 was accepted");
  } catch (const std::invalid_argument& error) {
    CHECK_THAT(error.what(), Catch::Matchers::Contains("attention.h5"));
  }
  CHECK_FALSE(std::filesystem::exists(root.path() / "compare"));  // nothing written
}

// ---- accuracy by evaluated length ---------------------------------------------------------

namespace {

// eval-test.json of `attnlab eval` at task.length 16 and lengths 16, 32, 64 and 64 again;
// nullopt: skipped.
void write_length_evaluation(const std::filesystem::path& run, double at_16,
                             std::optional<double> at_32, std::optional<double> at_64) {
  const auto entry = [](long length, std::optional<double> accuracy) {
    const std::string head = "{\"task_length\": " + std::to_string(length) + ", ";
    if (!accuracy) return head + "\"skipped\": \"learned positions cover only 16 tokens\"}";
    return head + "\"result\": {\"accuracy\": " + std::to_string(*accuracy) +
           ", \"sequence_accuracy\": 0.5}}";
  };
  // eval.lengths may repeat a length or hold the trained one: each counts once per run.
  write(run / "eval-test.json",
        "{\"step\": 20, \"task_length\": 16, \"result\": {\"accuracy\": " + std::to_string(at_16) +
            ", \"sequence_accuracy\": 0.5}, \"lengths\": [" + entry(16, at_16) + ", " +
            entry(32, at_32) + ", " + entry(64, at_64) + ", " + entry(64, at_64) + "]}");
}

}  // namespace

TEST_CASE("compare reports test accuracy by evaluated length per group, skipped lengths apart",
          "[compare][lengths]") {
  attnlab::testing::TempDir root;
  make_run(root.path() / "rope-0", "rope", 0, 0.9);
  make_run(root.path() / "rope-1", "rope", 1, 0.9);
  make_run(root.path() / "learned-0", "learned", 0, 0.9);
  write_length_evaluation(root.path() / "rope-0", 1.0, 0.8, 0.4);
  write_length_evaluation(root.path() / "rope-1", 0.9, 0.6, 0.2);
  write_length_evaluation(root.path() / "learned-0", 1.0, std::nullopt, std::nullopt);

  const auto runs = load_runs({root.path()});
  const auto lengths = length_generalisation(compare_runs(runs));
  REQUIRE(lengths.size() == 2);
  for (const auto& group : lengths) {
    REQUIRE(group.trained_length == 16);
    REQUIRE(group.lengths.size() == 3);
    CHECK(group.lengths[0].length == 16);
    CHECK(group.lengths[2].length == 64);
    if (group.label.find("rope") != std::string::npos) {
      CHECK(group.lengths[0].accuracy.n == 2);
      CHECK(group.lengths[0].accuracy.mean == Approx(0.95));
      CHECK(group.lengths[1].accuracy.mean == Approx(0.7));  // over both seeds
      CHECK(group.lengths[2].accuracy.n == 2);
      CHECK(group.lengths[2].accuracy.mean == Approx(0.3));
      CHECK(group.lengths[2].skipped == 0);
    } else {
      CHECK(group.lengths[0].accuracy.n == 1);
      CHECK(group.lengths[1].accuracy.n == 0);  // skipped is not a score of 0
      CHECK(group.lengths[1].skipped == 1);
    }
  }
  const auto csv = lengths_csv(lengths);
  CHECK_THAT(csv, Catch::Matchers::StartsWith("task,group,trained_length,length,length_ratio,n,"));
  CHECK_THAT(csv, Catch::Matchers::Contains("copy,variant.name=rope,16,64,4,2,0,0.3"));
  CHECK_THAT(csv, Catch::Matchers::Contains(",16,32,2,0,1,,,,,,\n"));

  CompareRequest request;
  request.dirs = {root.path()};
  const auto result = compare_folders(request);
  CHECK_THAT(result.table, Catch::Matchers::Contains("test accuracy by evaluated length"));
  CHECK(std::filesystem::exists(root.path() / "compare" / "compare_lengths.csv"));
  CHECK(std::filesystem::exists(root.path() / "compare" / "lengths-copy.svg"));
}

TEST_CASE("compare writes no length files when no run was evaluated at another length",
          "[compare][lengths]") {
  attnlab::testing::TempDir root;
  make_run(root.path() / "a", "rope", 0, 0.9);
  write(root.path() / "a" / "eval-test.json",
        "{\"step\": 20, \"task_length\": 16, \"result\": {\"accuracy\": 0.9}, \"lengths\": []}");
  CompareRequest request;
  request.dirs = {root.path()};
  const auto result = compare_folders(request);
  CHECK_THAT(result.table, !Catch::Matchers::Contains("evaluated length"));
  CHECK_FALSE(std::filesystem::exists(root.path() / "compare" / "compare_lengths.csv"));
}

TEST_CASE("compare --tune draws each group's tuned score against a swept numeric key",
          "[compare][tune]") {
  attnlab::testing::TempDir root;
  // scaled and dot at width 64 and 128, two learning rates each: the width is a group key.
  for (const std::string variant : {"scaled", "dot"}) {
    for (const std::string width : {"64", "128"}) {
      for (const std::string lr : {"0.001", "0.003"}) {
        TunedRun run;
        run.variant = variant, run.lr = lr;
        run.val_accuracy = (width == "128" ? 0.8 : 0.5) + (lr == "0.003" ? 0.1 : 0.0);
        run.extra_train_keys = "width = " + width + "\n";
        make_tuned_run(root.path() / (variant + "-" + width + "-" + lr), run);
      }
    }
  }
  const auto runs = load_runs({root.path()});  // the comparison points into them
  const auto comparison = compare_runs(runs);
  const auto tuned = tune_comparison(comparison, {{"train.lr"}, "accuracy"});
  CHECK(numeric_group_keys(tuned, "copy") == std::vector<std::string>{"train.width"});
  const auto svg = tuned_against_figure_svg(tuned, "copy", "train.width");
  // One line per variant (the width is the x axis, not part of a line's name), each point at
  // its tuned score: 0.6 at width 64, 0.9 at width 128.
  CHECK_THAT(svg, Catch::Matchers::Contains(">variant.name=scaled<"));
  CHECK_THAT(svg, Catch::Matchers::Contains(">variant.name=dot<"));
  CHECK_THAT(svg, !Catch::Matchers::Contains("train.width=64"));
  CHECK(group_named(tuned, "train.width=128, variant.name=dot").choice().validation.mean ==
        Approx(0.9));
  // variant.name is not a number, so it has no such figure (above); a task without groups none.
  CHECK(numeric_group_keys(tuned, "nonesuch").empty());
}
