// wordlm and the text forms of tasks (what `attnlab probe` reads): the tokenizer, the vocabulary
// and its text form, the task on a file and on a stored vocabulary, the shipped two-sense corpus,
// and the notation of the other tasks.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>

#include "base/shell_command.h"
#include "experiments/run/schema.h"
#include "experiments/tasks/task.h"
#include "experiments/tasks/utf8.h"
#include "experiments/tasks/word_tokenizer.h"
#include "tests/support/files.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;

namespace {

const std::filesystem::path kCorpus =
    std::filesystem::path(ATTNLAB_SOURCE_DIR) / "configs" / "data" / "two_senses.txt";

config::Config wordlm_config(const std::filesystem::path& text,
                             std::vector<std::string> extra = {}) {
  std::vector<std::string> overrides = {"task=wordlm", "task.path=" + text.string(),
                                        "task.length=8", "record.every=0"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  return run::load_config(run::default_config_file(), overrides);
}

// 100 lines: "the" 400 times, "cat" 200, every other word and mark 100.
std::filesystem::path write_pets(const std::filesystem::path& folder) {
  const auto path = folder / "pets.txt";
  std::ofstream file(path);
  for (int i = 0; i < 100; ++i) file << "The cat sat on the mat. The dog ran to the cat!\n";
  return path;
}

}  // namespace

TEST_CASE("split_words keeps words whole and punctuation apart", "[tasks]") {
  using V = std::vector<std::string>;
  CHECK(tasks::split_words("The cat's hat, isn't it?", true) ==
        V{"the", "cat's", "hat", ",", "isn't", "it", "?"});
  CHECK(tasks::split_words("The cat's hat", false) == V{"The", "cat's", "hat"});
  // An apostrophe outside a word, digits, non-ASCII letters and white space of every kind.
  CHECK(tasks::split_words("'quoted'\tcafé  naïve\n42nd", true) ==
        V{"'", "quoted", "'", "café", "naïve", "42nd"});
  CHECK(tasks::split_words("   ", true).empty());
}

TEST_CASE("UTF-8 is read strictly and written back", "[tasks]") {
  const std::string text = "a\u00e9\u20ac\U0001F600";  // 1, 2, 3 and 4 bytes
  const auto codes = tasks::decode_utf8(text, "t");
  CHECK(codes == std::vector<std::uint32_t>{0x61, 0xE9, 0x20AC, 0x1F600});
  std::string back;
  for (const auto code : codes) back += tasks::encode_utf8(code);
  CHECK(back == text);
  CHECK_THROWS_WITH(tasks::decode_utf8("ab\xC0\x80", "t"), Catch::Contains("byte offset 2"));
  CHECK_THROWS_WITH(tasks::decode_utf8("\xED\xA0\x80", "t"), Catch::Contains("not UTF-8"));
  CHECK_THROWS_WITH(tasks::decode_utf8("\xF4\x90\x80\x80", "t"), Catch::Contains("not UTF-8"));
  CHECK_THROWS_WITH(tasks::decode_utf8("\xE2\x82", "t"), Catch::Contains("byte offset 0"));
}

TEST_CASE("a vocabulary holds <unk> and the most frequent words, and reads back", "[tasks]") {
  const std::vector<std::string> words = {"b", "a", "b", "c", "a", "b", "d"};
  const auto vocabulary = tasks::Vocabulary::build(words, 3);
  REQUIRE(vocabulary.size() == 3);
  CHECK(vocabulary.word(0) == "<unk>");
  CHECK(vocabulary.word(1) == "b");  // 3 times
  CHECK(vocabulary.word(2) == "a");  // 2 times; c and d (once each) do not fit
  CHECK(vocabulary.id("c") == 0);
  CHECK(vocabulary.text() == "<unk>\nb\na\n");
  const auto parsed = tasks::Vocabulary::parse(vocabulary.text(), "vocabulary.txt");
  CHECK(parsed.text() == vocabulary.text());
  CHECK(parsed.id("a") == 2);
  // More room than words: every distinct word.
  CHECK(tasks::Vocabulary::build(words, 100).size() == 5);

  CHECK_THROWS_WITH(tasks::Vocabulary::parse("<unk>\nb\nb\n", "v.txt"),
                    Catch::Contains("v.txt:3") && Catch::Contains("repeats line 2"));
  CHECK_THROWS_WITH(tasks::Vocabulary::parse("b\n", "v.txt"),
                    Catch::Contains("v.txt:1") && Catch::Contains("<unk>"));
  CHECK_THROWS_WITH(tasks::Vocabulary::parse("<unk>\n\nb\n", "v.txt"),
                    Catch::Contains("v.txt:2") && Catch::Contains("empty"));
  CHECK_THROWS_WITH(tasks::Vocabulary::parse("<unk>\na b\n", "v.txt"),
                    Catch::Contains("v.txt:2") && Catch::Contains("white space"));
}

TEST_CASE("wordlm reads a file as words, with a vocabulary of its training part", "[tasks]") {
  testing::TempDir work;
  const auto text = write_pets(work.path());
  const auto task = tasks::make_task(wordlm_config(text, {"task.vocab=6"}));
  // <unk>, then by count (the, cat), then ties in byte order: "!", ".", "dog".
  REQUIRE(task->vocab_size() == 6);
  CHECK(task->token_text(1) == "the");
  CHECK(task->token_text(2) == "cat");
  CHECK(task->token_text(5) == "dog");
  CHECK(task->vocabulary().rfind("<unk>\nthe\ncat\n", 0) == 0);

  // A user's text: lower-cased, words outside the vocabulary read as <unk>, and back.
  const auto tokens = task->encode("The CAT flew");
  REQUIRE(tokens.size() == 3);
  CHECK(tokens[0] == 1);
  CHECK(tokens[1] == 2);
  CHECK(tokens[2] == 0);
  CHECK(task->token_text(tokens[2]) == "<unk>");
  CHECK_THROWS_WITH(task->encode(std::string("bad \xff byte")), Catch::Contains("not UTF-8"));

  // Windows of 8 words, next-word targets; perplexity of a uniform guess is the vocabulary size.
  const auto val = task->examples(tasks::Split::Val, 0, 2);
  CHECK(val.inputs.sizes() == torch::IntArrayRef({2, 8}));
  CHECK(torch::equal(val.inputs[0].narrow(0, 1, 7), val.targets[0].narrow(0, 0, 7)));
  tasks::MetricSums sums;
  task->add_metrics(val, torch::zeros({2, 8, 6}), sums);
  auto metrics = sums.means();
  task->finish_metrics(metrics);
  CHECK(metrics.at("perplexity") == Approx(6.0));
  CHECK(metrics.at("unknown_rate") >= 0.0);
}

TEST_CASE("wordlm reads a stored vocabulary, and says what is wrong with one", "[tasks]") {
  testing::TempDir work;
  const auto text = write_pets(work.path());
  const auto stored = work.path() / "vocabulary.txt";
  std::ofstream(stored) << "<unk>\ndog\n";
  const auto task =
      tasks::make_task(wordlm_config(text, {"task.vocabulary=" + stored.string()}));
  CHECK(task->vocab_size() == 2);
  CHECK(task->encode("dog cat") == std::vector<std::int64_t>{1, 0});

  std::ofstream(stored) << "<unk>\ndog\ndog\n";
  CHECK_THROWS_WITH(tasks::make_task(wordlm_config(text, {"task.vocabulary=" + stored.string()})),
                    Catch::Contains("task.vocabulary") && Catch::Contains(":3"));
  CHECK_THROWS_WITH(
      tasks::make_task(wordlm_config(text, {"task.vocabulary=" + (work.path() / "no").string()})),
      Catch::Contains("task.vocabulary: cannot read"));
  CHECK_THROWS_WITH(tasks::make_task(wordlm_config(work.path() / "missing.txt")),
                    Catch::Contains("task.path"));
}

TEST_CASE("the shipped two-sense corpus holds bank by the river and by money", "[tasks]") {
  const auto task = tasks::make_task(wordlm_config(kCorpus, {"task.vocab=512"}));
  const auto vocabulary = tasks::Vocabulary::parse(task->vocabulary(), "corpus");
  for (const char* word : {"bank", "river", "boat", "loan", "cash", "ducks", "teller"}) {
    INFO(word);
    CHECK(vocabulary.id(word) > 0);
  }
  CHECK(task->vocab_size() < 512);  // every word of the corpus fits: no <unk> in it
  const auto text = testing::read_text(kCorpus);
  CHECK(text.find("river was high , so") != std::string::npos);
  CHECK(text.find("the bank for a loan .") != std::string::npos);
  // The file is what its generator writes (it is seeded), when python3 is there to run it.
  if (attnlab::capture_shell("command -v python3").exit_code == 0) {
    testing::TempDir work;
    const auto made = work.path() / "two_senses.txt";
    const auto result = attnlab::capture_shell(
        "python3 " + (std::filesystem::path(ATTNLAB_SOURCE_DIR) / "scripts" /
                      "make_two_senses_corpus.py").string() + " " + made.string());
    INFO(result.output);
    REQUIRE(result.exit_code == 0);
    CHECK(testing::read_text(made) == text);
  }
}

TEST_CASE("tasks read a user's text in their own notation", "[tasks]") {
  const auto config = [](std::vector<std::string> overrides) {
    return run::load_config(run::default_config_file(), overrides);
  };
  // Synthetic tasks: space-separated ids, checked against the vocabulary.
  const auto copy = tasks::make_task(config({"task=copy"}));
  CHECK(copy->encode(" 3  5 1 ") == std::vector<std::int64_t>{3, 5, 1});
  CHECK(copy->token_text(5) == "5");
  CHECK_THROWS_WITH(copy->encode("3 x"), Catch::Contains("'x' is not a token id"));
  CHECK_THROWS_WITH(copy->encode("3 99999"), Catch::Contains("'99999'"));
  CHECK(copy->padding_token() == -1);
  CHECK(copy->vocabulary().empty());

  // ListOps in LRA's notation, padded with 0; with CLS pooling the token goes in front.
  const auto listops = tasks::make_task(config({"task=listops", "model.arch=encoder"}));
  const auto expression = listops->encode("[MAX 2 9 [MIN 4 7 ] 0 ]");
  CHECK(expression == std::vector<std::int64_t>{12, 3, 10, 11, 5, 8, 15, 1, 15});
  CHECK(listops->token_text(11) == "[MIN");
  CHECK(listops->padding_token() == 0);
  CHECK_THROWS_WITH(listops->encode("[MAX 12 ]"), Catch::Contains("'12' is not a ListOps token"));
  const auto cls = tasks::make_task(
      config({"task=listops", "model.arch=encoder", "model.pooling=cls"}));
  const auto framed = cls->framed(cls->encode("[SM 1 2 ]"));
  CHECK(framed == std::vector<std::int64_t>{16, 14, 2, 3, 15});
  CHECK(cls->token_text(16) == "[CLS]");
  CHECK(cls->token_text(14) == "[SM");
}
