// wordlm: word-level language modelling on any UTF-8 text file (task.path), split as
// token_stream.h says and tokenized as word_tokenizer.h says. The vocabulary is "<unk>" and the
// task.vocab - 1 most frequent words of the training part, or the file task.vocabulary names
// (a run's vocabulary.txt: every command after training reads the run's own). Reported: the
// perplexity per word and the share of targets that are unknown words.
#include <cmath>
#include <stdexcept>

#include <torch/nn/functional/loss.h>

#include "base/read_file.h"
#include "experiments/tasks/token_stream.h"
#include "experiments/tasks/utf8.h"
#include "experiments/tasks/word_tokenizer.h"

namespace attnlab::tasks {
namespace {

Vocabulary read_vocabulary(const std::string& path) {
  const auto text = attnlab::read_file(path);
  if (!text) throw config::ConfigError("task.vocabulary: cannot read '" + path + "'");
  try {
    return Vocabulary::parse(*text, path);
  } catch (const std::invalid_argument& error) {
    throw config::ConfigError(std::string("task.vocabulary: ") + error.what());
  }
}

class WordLmTask : public TokenStreamTask {
 public:
  explicit WordLmTask(const config::Config& config)
      : TokenStreamTask(config),
        lowercase_(config.get_bool("task.lowercase")),
        vocabulary_(Vocabulary::build({}, 1)) {
    const auto text = read_task_file(config);
    try {
      decode_utf8(text, "task.path: " + config.get_string("task.path"));
    } catch (const std::invalid_argument& error) {
      throw config::ConfigError(error.what());
    }
    const auto words = split_words(text, lowercase_);
    const auto stored = config.get_string("task.vocabulary");
    if (stored.empty()) {
      const auto training = words.begin() + train_end(static_cast<std::int64_t>(words.size()));
      vocabulary_ = Vocabulary::build({words.begin(), training}, config.get_int("task.vocab"));
    } else {
      vocabulary_ = read_vocabulary(stored);
    }
    std::vector<std::int64_t> tokens;
    tokens.reserve(words.size());
    for (const auto& word : words) tokens.push_back(vocabulary_.id(word));
    set_tokens(std::move(tokens), "words");
  }

  std::int64_t vocab_size() const override { return vocabulary_.size(); }
  std::string vocabulary() const override { return vocabulary_.text(); }

  std::vector<std::int64_t> encode(const std::string& text) const override {
    decode_utf8(text, "the text");  // throws for bytes that are not UTF-8
    std::vector<std::int64_t> tokens;
    for (const auto& word : split_words(text, lowercase_)) tokens.push_back(vocabulary_.id(word));
    return tokens;
  }
  std::string token_text(std::int64_t token) const override {
    if (token < 0 || token >= vocab_size()) return Vocabulary::kUnknown;
    return vocabulary_.word(token);
  }

  void add_metrics(const Batch& batch, const torch::Tensor& logits,
                   MetricSums& sums) const override {
    const auto targets = batch.targets.reshape({-1});
    const auto loss = torch::nn::functional::cross_entropy(
        logits.reshape({-1, logits.size(-1)}), targets,
        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    const auto count = static_cast<double>(targets.numel());
    sums.add("nats_per_word", loss.item<double>(), count);
    sums.add("unknown_rate", targets.eq(0).sum().item<double>(), count);
  }
  void finish_metrics(std::map<std::string, double>& metrics) const override {
    const auto nats = metrics.find("nats_per_word");
    if (nats != metrics.end()) metrics["perplexity"] = std::exp(nats->second);
  }

 private:
  bool lowercase_;
  Vocabulary vocabulary_;
};

}  // namespace

ATTNLAB_REGISTER(task_registry(),
                 {"wordlm",
                  "word-level language modelling on a UTF-8 text file (perplexity per word)",
                  {{"path", std::string("/usr/share/common-licenses/GPL-3"), kPathDoc},
                   {"lowercase", true, "wordlm: lower-case ASCII letters before counting words"},
                   {"vocabulary", std::string(""), kVocabularyDoc}},
                  {},
                  {},
                  [](const config::Config& config) { return std::make_shared<WordLmTask>(config); }});

}  // namespace attnlab::tasks
