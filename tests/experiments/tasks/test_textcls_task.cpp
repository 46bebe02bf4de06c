// textcls: a folder per label, one document per file, byte tokens, content-disjoint splits.
#include <catch2/catch.hpp>

#include <fstream>
#include <set>

#include "experiments/run/schema.h"
#include "experiments/tasks/task.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;

namespace {

config::Config textcls_config(const std::filesystem::path& folder,
                              std::vector<std::string> extra = {}) {
  std::vector<std::string> overrides = {"task=textcls", "model.arch=encoder",
                                        "task.folder=" + folder.string(), "task.length=24"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  return run::load_config(run::default_config_file(), overrides);
}

// Two labels, 200 short documents each: "zeta" files hold z's, "alpha" files a's (plus a number
// that makes each document distinct).
std::filesystem::path write_corpus(const std::filesystem::path& root) {
  for (const std::string label : {"zeta", "alpha"}) {
    std::filesystem::create_directories(root / label);
    for (int i = 0; i < 200; ++i) {
      std::ofstream(root / label / (std::to_string(i) + ".txt"))
          << std::string(4, label[0]) << " document " << i;
    }
  }
  std::ofstream(root / "alpha" / "empty.txt");  // an empty file is skipped
  return root;
}

std::string text_of(const torch::Tensor& tokens) {
  std::string text;
  for (std::int64_t t = 0; t < tokens.size(0); ++t) {
    const auto token = tokens[t].item<std::int64_t>();
    if (token > 0) text += static_cast<char>(token - 1);
  }
  return text;
}

}  // namespace

TEST_CASE("textcls labels are the sorted sub-folders, tokens the bytes", "[tasks]") {
  testing::TempDir work;
  const auto task = tasks::make_task(textcls_config(write_corpus(work.path())));
  CHECK(task->num_classes() == 2);
  CHECK(task->vocab_size() == 257);
  const auto batch = task->examples(tasks::Split::Train, 0, 64);
  REQUIRE(batch.inputs.sizes() == torch::IntArrayRef({64, 24}));
  for (std::int64_t b = 0; b < 64; ++b) {
    const auto text = text_of(batch.inputs[b]);
    const auto label = batch.targets[b].item<std::int64_t>();
    CHECK(text.rfind(label == 0 ? "aaaa document " : "zzzz document ", 0) == 0);  // alpha = 0
    CHECK(text.size() <= 24);
  }
}

TEST_CASE("textcls splits are disjoint, cover the corpus, and are seeded", "[tasks]") {
  testing::TempDir work;
  const auto config = textcls_config(write_corpus(work.path()), {"task.val_examples=1000",
                                                                 "task.test_examples=1000"});
  const auto task = tasks::make_task(config);
  std::set<std::string> val, test, train;
  const auto val_size = task->split_size(tasks::Split::Val);
  const auto test_size = task->split_size(tasks::Split::Test);
  CHECK(val_size > 5);
  CHECK(test_size > 5);
  const auto val_batch = task->examples(tasks::Split::Val, 0, val_size);
  const auto test_batch = task->examples(tasks::Split::Test, 0, test_size);
  for (std::int64_t b = 0; b < val_size; ++b) val.insert(text_of(val_batch.inputs[b]));
  for (std::int64_t b = 0; b < test_size; ++b) test.insert(text_of(test_batch.inputs[b]));
  const auto train_batch = task->examples(tasks::Split::Train, 0, 5000);
  for (std::int64_t b = 0; b < 5000; ++b) train.insert(text_of(train_batch.inputs[b]));
  CHECK(val.size() == static_cast<std::size_t>(val_size));
  CHECK(train.size() + val.size() + test.size() == 400);  // every document, in one split
  for (const auto& text : val) {
    CHECK(train.count(text) == 0);
    CHECK(test.count(text) == 0);
  }
  const auto again = tasks::make_task(config);
  CHECK(torch::equal(again->examples(tasks::Split::Train, 3, 32).inputs,
                     task->examples(tasks::Split::Train, 3, 32).inputs));
  const auto other_seed = tasks::make_task(textcls_config(work.path(), {"seed=9"}));
  CHECK_FALSE(torch::equal(other_seed->examples(tasks::Split::Train, 0, 32).inputs,
                           task->examples(tasks::Split::Train, 0, 32).inputs));
}

TEST_CASE("textcls reports accuracy per label: an oracle scores 100%", "[tasks]") {
  testing::TempDir work;
  const auto task = tasks::make_task(textcls_config(write_corpus(work.path())));
  const auto batch = task->examples(tasks::Split::Val, 0, task->split_size(tasks::Split::Val));
  auto logits = torch::zeros({batch.targets.size(0), 2});
  logits.scatter_(1, batch.targets.unsqueeze(1), 10.0);
  tasks::MetricSums sums;
  task->add_metrics(batch, logits, sums);
  const auto means = sums.means();
  CHECK(means.at("accuracy_alpha") == 1.0);
  CHECK(means.at("accuracy_zeta") == 1.0);
}

TEST_CASE("textcls names the folder problem", "[tasks]") {
  testing::TempDir work;
  CHECK_THROWS_WITH(tasks::make_task(textcls_config("")), Catch::Contains("task.folder"));
  CHECK_THROWS_WITH(tasks::make_task(textcls_config(work.path() / "missing")),
                    Catch::Contains("task.folder") && Catch::Contains("not a folder"));
  std::filesystem::create_directories(work.path() / "only");
  std::ofstream(work.path() / "only" / "a.txt") << "text";
  CHECK_THROWS_WITH(tasks::make_task(textcls_config(work.path())),
                    Catch::Contains("at least 2"));
  CHECK_THROWS_WITH(tasks::make_task(textcls_config(write_corpus(work.path() / "c"),
                                                    {"model.arch=decoder"})),
                    Catch::Contains("model.arch"));
}

TEST_CASE("a textcls validation set smaller than its split still mixes the labels", "[tasks]") {
  testing::TempDir work;
  const auto task = tasks::make_task(
      textcls_config(write_corpus(work.path()), {"task.val_examples=8", "task.test_examples=8"}));
  for (const auto split : {tasks::Split::Val, tasks::Split::Test}) {
    REQUIRE(task->split_size(split) == 8);
    const auto labels = task->examples(split, 0, 8).targets;
    CHECK(labels.eq(0).any().item<bool>());  // documents were loaded label by label
    CHECK(labels.eq(1).any().item<bool>());
  }
}
