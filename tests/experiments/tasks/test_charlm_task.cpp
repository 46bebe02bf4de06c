// charlm: contiguous splits of a UTF-8 file, a vocabulary of its characters, bits per character.
#include <catch2/catch.hpp>

#include <fstream>

#include "experiments/run/schema.h"
#include "experiments/tasks/task.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;

namespace {

config::Config charlm_config(const std::filesystem::path& text, std::vector<std::string> extra = {}) {
  std::vector<std::string> overrides = {"task=charlm", "task.path=" + text.string(),
                                        "task.length=8", "record.every=0"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  return run::load_config(run::default_config_file(), overrides);
}

}  // namespace

TEST_CASE("charlm splits the text contiguously and maps characters to ids", "[tasks]") {
  testing::TempDir work;
  const auto text = work.path() / "text.txt";
  std::string content;
  for (int i = 0; i < 100; ++i) content += "héllo wörld ";  // 1200 characters, 8 distinct
  std::ofstream(text) << content;
  const auto task = tasks::make_task(charlm_config(text));
  CHECK(task->vocab_size() == 9 + 1);  // h é l o ' ' w ö r d -> 9 characters, plus unknown
  // 5% of 1200 characters = 60 held-out characters -> 7 windows of 8 (+1 target).
  CHECK(task->split_size(tasks::Split::Val) == 7);
  const auto val = task->examples(tasks::Split::Val, 0, 2);
  // Consecutive windows: the second starts where the first's inputs end.
  CHECK(torch::equal(val.inputs[1].narrow(0, 0, 1), val.targets[0].narrow(0, 7, 1)));
  CHECK(val.targets.ne(tasks::kIgnore).all().item<bool>());
  // An oracle's bits per character are ~0; a uniform guess's are log2(V).
  auto uniform = torch::zeros({2, 8, task->vocab_size()});
  tasks::MetricSums sums;
  task->add_metrics(val, uniform, sums);
  CHECK(sums.means().at("bits_per_char") == Approx(std::log2(10.0)));
}

TEST_CASE("charlm reports unreadable, short or non-UTF-8 files as config errors", "[tasks]") {
  testing::TempDir work;
  CHECK_THROWS_WITH(charlm_config(work.path() / "missing.txt"), Catch::Contains("task.path"));
  const auto bad = work.path() / "bad.txt";
  std::ofstream(bad) << std::string(500, 'a') << '\xff' << std::string(500, 'b');
  CHECK_THROWS_WITH(charlm_config(bad), Catch::Contains("byte offset 500"));
  const auto tiny = work.path() / "tiny.txt";
  std::ofstream(tiny) << "short";
  CHECK_THROWS_WITH(charlm_config(tiny), Catch::Contains("too few"));
}

TEST_CASE("charlm keeps its characters as a vocabulary, reads one back, and reads text", "[tasks]") {
  testing::TempDir work;
  const auto text = work.path() / "text.txt";
  std::string content;
  for (int i = 0; i < 100; ++i) content += "ab\nc ";
  std::ofstream(text) << content;
  const auto task = tasks::make_task(charlm_config(text));
  // "<unk>", then code points in id order: '\n' (10), ' ' (32), 'a', 'b', 'c'.
  CHECK(task->vocabulary() == "<unk>\n10\n32\n97\n98\n99\n");
  CHECK(task->encode("ca\u00e9") == std::vector<std::int64_t>{5, 3, 0});
  CHECK(task->token_text(3) == "a");
  CHECK(task->token_text(0) == "<unk>");

  // A stored vocabulary fixes the ids whatever the text holds now.
  const auto stored = work.path() / "vocabulary.txt";
  std::ofstream(stored) << "<unk>\n99\n97\n";
  const auto kept = tasks::make_task(charlm_config(text, {"task.vocabulary=" + stored.string()}));
  CHECK(kept->vocab_size() == 3);
  CHECK(kept->encode("abc") == std::vector<std::int64_t>{2, 0, 1});
  std::ofstream(stored) << "<unk>\nx\n";
  CHECK_THROWS_WITH(tasks::make_task(charlm_config(text, {"task.vocabulary=" + stored.string()})),
                    Catch::Contains("vocabulary.txt:2") && Catch::Contains("not a code point"));
}
