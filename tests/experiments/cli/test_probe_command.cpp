// attnlab probe on real (short) runs, through the binary: a word LM's run keeps its vocabulary;
// the probe's dump holds the user's inputs and their tokens as text and reads like a run's
// (analyze, report); --token compares the word's occurrences head by head into the files it
// promises; inputs longer than learned positions reach are refused and others are not; and bad
// input exits 2 naming the option, writing nothing.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <tuple>

#include "analysis/report/report_data.h"
#include "dump/dump_reader.h"
#include "tests/support/files.h"
#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;
using testing::run_attnlab;

namespace {

namespace fs = std::filesystem;

// The word LM's config names its corpus relative to the repository (configs/two_senses.toml), so
// its commands run there, as the docs' do.
const fs::path kSource = ATTNLAB_SOURCE_DIR;
const std::string kRiver = "the river was high , so anna walked to the bank to watch the ducks .";
const std::string kMoney = "the loan was overdue , so tom went to the bank to ask for a loan .";

// A 20-step word LM on the shipped corpus (configs/two_senses.toml, made short).
fs::path word_run(const fs::path& root, const std::vector<std::string>& overrides = {}) {
  const auto dir = root / "words";
  std::vector<std::string> arguments = {
      "train", "--config", "configs/two_senses.toml", "--run-dir", dir.string(),
      "train.steps=20", "train.eval_every=10", "train.checkpoint_every=10", "record.every=0",
      "task.val_examples=16", "runtime.threads=1", "runtime.progress=none"};
  arguments.insert(arguments.end(), overrides.begin(), overrides.end());
  const auto result = run_attnlab(arguments, kSource);
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  return dir;
}

// A 5-step run (default experiment: copy, tiny model) at `run` with `overrides`, trained in
// `where`.
void train_briefly(const fs::path& run, const std::vector<std::string>& overrides,
                   const fs::path& where) {
  std::vector<std::string> arguments = {
      "train", "--run-dir", run.string(), "train.steps=5", "train.eval_every=5",
      "train.checkpoint_every=5", "record.every=0", "task.val_examples=8", "runtime.threads=1",
      "runtime.progress=none"};
  arguments.insert(arguments.end(), overrides.begin(), overrides.end());
  const auto trained = run_attnlab(arguments, where);
  INFO(trained.output);
  REQUIRE(trained.exit_code == 0);
}

std::vector<fs::path> probe_folders(const fs::path& run) {
  std::vector<fs::path> folders;
  if (!fs::exists(run / "probes")) return folders;
  for (const auto& entry : fs::directory_iterator(run / "probes")) folders.push_back(entry.path());
  return folders;
}

}  // namespace

TEST_CASE("probe records a word LM on the user's sentences and compares one word", "[cli]") {
  testing::TempDir work;
  const auto run = word_run(work.path());
  // The run keeps the vocabulary it built, "<unk>" first.
  const auto vocabulary = testing::read_text(run / "vocabulary.txt");
  CHECK(vocabulary.rfind("<unk>\n", 0) == 0);
  CHECK(vocabulary.find("\nbank\n") != std::string::npos);

  const auto result = run_attnlab({"probe", "--run", run.string(), "--token", "Bank", "--text",
                                   kRiver, "--text", kMoney, "runtime.threads=1"},
                                  kSource);
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::Contains("probed 2 inputs (longest 17 tokens)"));
  CHECK_THAT(result.output, Catch::Contains("2 occurrences"));
  const auto folders = probe_folders(run);
  REQUIRE(folders.size() == 1);
  const auto out = folders.front();
  CHECK(out.filename().string().rfind("probe-", 0) == 0);

  SECTION("the dump holds the inputs, their tokens as text and one snapshot of float maps") {
    const dump::DumpReader reader(out / "attention.h5");
    CHECK(reader.samples() == 2);
    CHECK(reader.steps() == std::vector<std::int64_t>{20});
    REQUIRE(reader.layers().size() == 2);
    CHECK(reader.layers()[0].query_length == 17);
    CHECK(reader.probe_text(dump::kProbeText).values == std::vector<std::string>{kRiver, kMoney});
    const auto text = reader.probe_text(dump::kProbeTokenText);
    CHECK(text.shape == std::vector<std::int64_t>{2, 17});
    CHECK(text.values[0] == "the");
    CHECK(text.values[10] == "bank");
    CHECK(text.values[15] == ".");
    CHECK(text.values[16].empty());  // the shorter input's padding
    CHECK(text.values[17 + 15] == "loan");
    CHECK(reader.probe(dump::kProbeLengths).values == std::vector<std::int64_t>{16, 17});
    // Rows of a distribution sum to 1 over the allowed keys.
    const auto map = reader.map(1, 0, 1, 2);
    double row = 0;
    for (std::int64_t key = 0; key < 17; ++key) row += map[10 * 17 + key];
    CHECK(row == Approx(1.0).epsilon(1e-5));
  }

  SECTION("token_heads.csv ranks every head, token_rows.csv has each occurrence's keys") {
    const auto heads = testing::read_lines(out / "token_heads.csv");
    REQUIRE(heads.size() == 1 + 8);  // 2 layers x 4 heads
    CHECK(heads[0] ==
          "rank,layer,head,map_kind,occurrences,js_by_token,js_by_position,max_js_by_token,"
          "first_input,first_position,second_input,second_position");
    CHECK_THAT(heads[1], Catch::StartsWith("1,"));
    CHECK_THAT(heads[1], Catch::EndsWith(",0,10,1,10"));  // bank is word 10 of both
    const auto rows = testing::read_lines(out / "token_rows.csv");
    CHECK(rows[0] == "layer,head,occurrence,input,position,rank,key_position,key_text,weight");
    CHECK(rows.size() == 1 + 8 * 2 * 5);  // 5 strongest keys per head and occurrence
    const auto svg = testing::read_text(out / "token_context.svg");
    CHECK_THAT(svg, Catch::StartsWith("<svg "));
    CHECK_THAT(svg, Catch::Contains("&apos;Bank&apos; in 2 contexts") ||
                        Catch::Contains("'Bank' in 2 contexts"));
    CHECK_THAT(svg, Catch::Contains(">ducks<"));
  }

  SECTION("analyze and report read the probe like a run") {
    const auto analyzed = run_attnlab({"analyze", (out / "attention.h5").string()}, kSource);
    INFO(analyzed.output);
    CHECK(analyzed.exit_code == 0);
    CHECK(fs::exists(out / "analysis" / "classes.csv"));
    report::ReportRequest request;
    request.dir = out;
    const auto data = report::gather_report_data(request);
    CHECK(data["kind"] == "probe");
    REQUIRE(data["runs"].size() == 1);
    const auto& entry = data["runs"][0];
    CHECK(entry["maps"]["tokens"][1][10] == "bank");
    CHECK(entry["labels"] != nullptr);  // analyze's classes beside it
    const auto& context = entry["token_context"];
    CHECK(context["token"] == "bank");
    CHECK(context["occurrences"] == 2);
    REQUIRE(context["heads"].size() == 8);
    const auto& panels = context["heads"][0]["panels"];
    REQUIRE(panels.size() == 2);
    CHECK(panels[1]["tokens"][1] == "loan");
    CHECK(panels[1]["weights"].size() == 17);
  }

  SECTION("bad input exits 2 naming the option, and writes nothing") {
    const auto missing_word =
        run_attnlab({"probe", "--run", run.string(), "--token", "teller", "--text", kRiver,
                     "--text", kMoney},
                    kSource);
    CHECK(missing_word.exit_code == 2);
    CHECK_THAT(missing_word.output, Catch::Contains("--token 'teller' occurs 0 time(s)"));
    const auto unknown =
        run_attnlab({"probe", "--run", run.string(), "--token", "zebra", "--text", kRiver},
                    kSource);
    CHECK(unknown.exit_code == 2);
    CHECK_THAT(unknown.output, Catch::Contains("not in the run's vocabulary"));
    // Learned positions cover 32 words.
    std::string long_text;
    for (int i = 0; i < 3; ++i) long_text += kRiver + " ";
    const auto too_long =
        run_attnlab({"probe", "--run", run.string(), "--text", kRiver, "--text", long_text},
                    kSource);
    CHECK(too_long.exit_code == 2);
    CHECK_THAT(too_long.output, Catch::Contains("--text 2: 48 tokens") &&
                                    Catch::Contains("learned positions"));
    const auto no_inputs = run_attnlab({"probe", "--run", run.string()}, kSource);
    CHECK(no_inputs.exit_code == 2);
    CHECK_THAT(no_inputs.output, Catch::Contains("no inputs"));
    const auto no_file = run_attnlab(
        {"probe", "--run", run.string(), "--file", (work.path() / "none.txt").string()},
        kSource);
    CHECK(no_file.exit_code == 2);
    CHECK_THAT(no_file.output, Catch::Contains("none.txt: cannot read"));
    const auto model_override =
        run_attnlab({"probe", "--run", run.string(), "--text", kRiver, "model.heads=2"},
                    kSource);
    CHECK(model_override.exit_code == 2);
    CHECK(probe_folders(run).size() == 1);  // the first probe's only
  }
}

TEST_CASE("probe reads token ids, --file and --position, beyond the trained length", "[cli]") {
  // RoPE and no absolute positions: any length runs. The copy task reads space-separated ids.
  testing::TempDir work;
  const auto run = work.path() / "copy";
  train_briefly(run, {"variant=rope", "model.positions=none"}, work.path());
  CHECK_FALSE(fs::exists(run / "vocabulary.txt"));  // the config alone fixes copy's tokens

  std::string long_input;
  for (int i = 0; i < 50; ++i) long_input += std::to_string(3 + i % 7) + " ";
  const auto inputs = work.path() / "inputs.txt";
  std::ofstream(inputs) << "3 4 5 6\n\n" << long_input << "\n3 4 5\n";
  const auto out = work.path() / "probe";
  const auto result = run_attnlab({"probe", "--run", run.string(), "--file", inputs.string(),
                                   "--position", "2", "--out", out.string() + "/"},
                                  work.path());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  const dump::DumpReader reader(out / "attention.h5");
  CHECK(reader.samples() == 3);                      // the blank line is not an input
  CHECK(reader.layers()[0].query_length == 50);      // beyond the trained length
  CHECK(reader.probe(dump::kProbeLengths).values == std::vector<std::int64_t>{4, 50, 3});
  CHECK(reader.probe_text(dump::kProbeTokenText).values[50] == "3");  // input 1, as text
  for (const auto& entry : fs::directory_iterator(work.path())) {
    CHECK(entry.path().filename().string().rfind(".probe-", 0) != 0);  // no partial folder
  }

  // Three occurrences, three pairs: a head's pair is one of them, the one furthest apart.
  const auto heads = testing::read_lines(out / "token_heads.csv");
  REQUIRE(heads.size() == 1 + 8);
  const auto rows = testing::read_lines(out / "token_rows.csv");
  CHECK(rows.size() > 1 + 8 * 3);  // up to 5 keys per head and occurrence (fewer at position 2)
  for (std::size_t row = 1; row < heads.size(); ++row) {
    std::vector<std::string> fields;
    std::istringstream split(heads[row]);
    for (std::string field; std::getline(split, field, ',');) fields.push_back(field);
    REQUIRE(fields.size() == 12);
    CHECK(fields[4] == "3");
    CHECK(fields[8] != fields[10]);  // two different inputs
    CHECK(fields[9] == "2");
    CHECK(std::stod(fields[7]) >= std::stod(fields[5]));  // the largest is at least the mean
  }

  for (const auto& [option, value, message] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"--position", "-1", "--position"}, {"--token", "", "an empty token"}}) {
    const auto refused = run_attnlab({"probe", "--run", run.string(), "--text", "3 4", "--text",
                                      "3 5", option, value},
                                     work.path());
    INFO(option);
    CHECK(refused.exit_code == 2);
    CHECK_THAT(refused.output, Catch::Contains(message));
  }

  const auto bad = work.path() / "bad.txt";
  std::ofstream(bad) << "3 4\n3 x 5\n";
  const auto refused = run_attnlab({"probe", "--run", run.string(), "--file", bad.string()},
                                   work.path());
  CHECK(refused.exit_code == 2);
  CHECK_THAT(refused.output, Catch::Contains("bad.txt:2: 'x' is not a token id"));
  const auto taken = run_attnlab({"probe", "--run", run.string(), "--text", "3 4", "--out",
                                  out.string()},
                                 work.path());
  CHECK(taken.exit_code == 2);
  CHECK_THAT(taken.output, Catch::Contains("exists and is not empty"));
}

TEST_CASE("probe checks the inputs' length against the variant before any work", "[cli]") {
  // BigBird's blocks must divide the length: 16 tokens of copy (task.length 8) in blocks of 4.
  testing::TempDir work;
  const auto run = work.path() / "bigbird";
  train_briefly(run, {"variant=bigbird", "variant.block=4", "task.length=8"}, work.path());
  const auto refused =
      run_attnlab({"probe", "--run", run.string(), "--text", "3 4 5"}, work.path());
  CHECK(refused.exit_code == 2);
  CHECK_THAT(refused.output, Catch::Contains("variant.block") &&
                                 Catch::Contains("for the probe's longest input"));
  CHECK_FALSE(fs::exists(run / "probes"));
  const auto fits =
      run_attnlab({"probe", "--run", run.string(), "--text", "3 4 5 6 3 4 5 6"}, work.path());
  INFO(fits.output);
  CHECK(fits.exit_code == 0);
}

TEST_CASE("a word LM's later commands tokenize with the run's vocabulary, and resume checks it",
          "[cli]") {
  // Trained on one text; the text then changes so that another word is the most frequent.
  testing::TempDir work;
  const auto text = work.path() / "text.txt";
  {
    std::ofstream file(text);
    for (int i = 0; i < 200; ++i) file << "the cat sat on the mat . ";
  }
  const auto run = work.path() / "run";
  train_briefly(run, {"task=wordlm", "task.path=" + text.string(), "task.length=8"}, work.path());
  const auto vocabulary = testing::read_lines(run / "vocabulary.txt");
  REQUIRE(vocabulary.size() == 7);  // <unk> the cat . mat on sat
  CHECK(vocabulary[1] == "the");
  {
    std::ofstream file(text);
    for (int i = 0; i < 200; ++i) file << "a dog ran to a dog . ";
  }
  const auto out = work.path() / "probe";
  const auto probed = run_attnlab({"probe", "--run", run.string(), "--text", "the cat", "--text",
                                   "the dog", "--position", "1", "--out", out.string()},
                                  work.path());
  INFO(probed.output);
  REQUIRE(probed.exit_code == 0);
  const dump::DumpReader reader(out / "attention.h5");
  const auto tokens = reader.probe(dump::kProbeTokens).values;
  const auto text_of = reader.probe_text(dump::kProbeTokenText).values;
  CHECK(tokens[0] == 1);   // "the": the run's id, not the changed text's
  CHECK(text_of[0] == "the");
  CHECK(text_of[1] == "cat");
  CHECK(tokens[3] == 0);   // "dog" is not in the run's vocabulary
  CHECK(text_of[3] == "<unk>");

  // Training on would train on other data: resuming says so instead.
  const auto resumed = run_attnlab({"train", "--resume", run.string(), "runtime.threads=1"},
                                   work.path());
  CHECK(resumed.exit_code == 2);
  CHECK_THAT(resumed.output, Catch::Contains("the text changed since the run began"));
}
