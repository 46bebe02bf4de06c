// charlm: character-level language modelling on any UTF-8 text file (task.path), split as
// token_stream.h says. The vocabulary is the set of characters in the training part (index 0 for
// characters only the held-out part has), or the file task.vocabulary names (a run's
// vocabulary.txt: "<unk>", then each character's code point in decimal, one per line, since a
// character may be a line break). Reported: bits per character (the mean loss in bits).
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include <torch/nn/functional/loss.h>

#include "base/read_file.h"
#include "experiments/tasks/token_stream.h"
#include "experiments/tasks/utf8.h"

namespace attnlab::tasks {
namespace {

constexpr const char* kUnknown = "<unk>";

// The characters of a vocabulary file, in id order from id 1.
std::vector<std::uint32_t> read_characters(const std::string& path) {
  const auto text = attnlab::read_file(path);
  if (!text) throw config::ConfigError("task.vocabulary: cannot read '" + path + "'");
  std::istringstream lines(*text);
  std::vector<std::uint32_t> characters;
  std::string line;
  for (std::int64_t number = 1; std::getline(lines, line); ++number) {
    const auto where = "task.vocabulary: " + path + ":" + std::to_string(number) + ": ";
    if (number == 1) {
      if (line != kUnknown) throw config::ConfigError(where + "the first line must be <unk>");
      continue;
    }
    std::size_t used = 0;
    unsigned long code = 0;
    try {
      code = std::stoul(line, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != line.size() || code > 0x10FFFF) {
      throw config::ConfigError(where + "'" + line + "' is not a code point");
    }
    characters.push_back(static_cast<std::uint32_t>(code));
  }
  return characters;
}

class CharLmTask : public TokenStreamTask {
 public:
  explicit CharLmTask(const config::Config& config) : TokenStreamTask(config) {
    const auto path = config.get_string("task.path");
    std::vector<std::uint32_t> characters;
    try {
      characters = decode_utf8(read_task_file(config), "task.path: " + path);
    } catch (const std::invalid_argument& error) {
      throw config::ConfigError(error.what());
    }
    characters_.push_back(0);  // id 0: a character the training text never shows
    const auto stored = config.get_string("task.vocabulary");
    if (stored.empty()) {
      std::set<std::uint32_t> seen(characters.begin(), characters.begin() +
                                   train_end(static_cast<std::int64_t>(characters.size())));
      characters_.insert(characters_.end(), seen.begin(), seen.end());
    } else {
      const auto read = read_characters(stored);
      characters_.insert(characters_.end(), read.begin(), read.end());
    }
    for (std::size_t id = 1; id < characters_.size(); ++id) {
      ids_.emplace(characters_[id], static_cast<std::int64_t>(id));
    }
    std::vector<std::int64_t> tokens;
    tokens.reserve(characters.size());
    for (auto character : characters) tokens.push_back(id_of(character));
    set_tokens(std::move(tokens), "characters");
  }

  std::int64_t vocab_size() const override {
    return static_cast<std::int64_t>(characters_.size());
  }

  std::string vocabulary() const override {
    std::string text = std::string(kUnknown) + "\n";
    for (std::size_t id = 1; id < characters_.size(); ++id) {
      text += std::to_string(characters_[id]) + "\n";
    }
    return text;
  }

  std::vector<std::int64_t> encode(const std::string& text) const override {
    std::vector<std::int64_t> tokens;
    for (auto character : decode_utf8(text, "the text")) tokens.push_back(id_of(character));
    return tokens;
  }
  std::string token_text(std::int64_t token) const override {
    if (token <= 0 || token >= vocab_size()) return kUnknown;
    return encode_utf8(characters_[static_cast<std::size_t>(token)]);
  }

  void add_metrics(const Batch& batch, const torch::Tensor& logits,
                   MetricSums& sums) const override {
    const auto loss = torch::nn::functional::cross_entropy(
        logits.reshape({-1, logits.size(-1)}), batch.targets.reshape({-1}),
        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    sums.add("bits_per_char", loss.item<double>() / std::log(2.0),
             static_cast<double>(batch.targets.numel()));
  }

 private:
  std::int64_t id_of(std::uint32_t character) const {
    const auto found = ids_.find(character);
    return found == ids_.end() ? 0 : found->second;
  }

  std::map<std::uint32_t, std::int64_t> ids_;
  std::vector<std::uint32_t> characters_;  // by id
};

}  // namespace

ATTNLAB_REGISTER(task_registry(),
                 {"charlm",
                  "character-level language modelling on a UTF-8 text file (bits per character)",
                  {{"path", std::string("/usr/share/common-licenses/GPL-3"), kPathDoc},
                   {"vocabulary", std::string(""), kVocabularyDoc}},
                  {},
                  {},
                  [](const config::Config& config) { return std::make_shared<CharLmTask>(config); }});

}  // namespace attnlab::tasks
