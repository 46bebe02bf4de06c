// textcls: byte-level text classification from a folder per label.
//   task.folder/
//     <label a>/ *.txt ...      every regular file under a label's folder is one document
//     <label b>/ ...
// Labels are the sub-folder names in sorted order (class 0, 1, ...). A document is its first
// task.length bytes (tokens 1..256 = byte + 1), right-padded with 0. Splits are fixed by the
// document's content hash (train 90%, val 5%, test 5%), so they are disjoint and do not depend on
// file names or the order the filesystem lists them in. Sequence classification with an encoder.
// Accuracy is also reported per label (accuracy_<label>).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <fmt/core.h>

#include "experiments/tasks/example_stream.h"

namespace attnlab::tasks {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kPad = 0;
constexpr std::int64_t kVocab = 257;  // padding + 256 byte values

struct Document {
  std::vector<std::int64_t> tokens;  // [task.length], padded
  std::int64_t label = 0;
  std::uint64_t hash = 0;  // of tokens and label: the document's place in its split
};

class TextClassificationTask : public Task {
 public:
  explicit TextClassificationTask(const config::Config& config)
      : length_(config.get_int("task.length")),
        val_size_(config.get_int("task.val_examples")),
        test_size_(config.get_int("task.test_examples")),
        train_seed_(stream_seed(config, Split::Train)) {
    const fs::path folder = config.get_string("task.folder");
    if (folder.empty()) {
      throw config::ConfigError(
          "task.folder is empty: set it to a folder with one sub-folder of text files per label "
          "(scripts/make_licence_corpus.sh builds one from the licences shipped with Debian)");
    }
    std::error_code error;
    if (!fs::is_directory(folder, error)) {
      throw config::ConfigError("task.folder: '" + folder.string() + "' is not a folder");
    }
    try {
      for (const auto& entry : fs::directory_iterator(folder)) {
        if (entry.is_directory()) labels_.push_back(entry.path().filename().string());
      }
      std::sort(labels_.begin(), labels_.end());
      if (labels_.size() < 2) {
        throw config::ConfigError("task.folder: '" + folder.string() + "' has " +
                                  std::to_string(labels_.size()) +
                                  " label sub-folders; classification needs at least 2");
      }
      for (std::size_t label = 0; label < labels_.size(); ++label) {
        load_label(folder / labels_[label], static_cast<std::int64_t>(label));
      }
    } catch (const fs::filesystem_error& failure) {
      throw config::ConfigError("task.folder: " + std::string(failure.what()));
    }
    // Documents were loaded label by label; ordering each split by content hash mixes the labels,
    // so the first val_examples of a split are not all of the first labels.
    for (auto& documents : documents_) {
      std::stable_sort(documents.begin(), documents.end(), [](const auto& a, const auto& b) {
        return a.hash < b.hash;
      });
    }
    for (const auto split : {Split::Train, Split::Val, Split::Test}) {
      if (split_documents(split).empty()) {
        throw config::ConfigError("task.folder: '" + folder.string() + "' yields no " +
                                  split_name(split) + " documents (" +
                                  std::to_string(documents_[0].size() + documents_[1].size() +
                                                 documents_[2].size()) +
                                  " distinct documents, split 90/5/5 by content); add documents");
      }
    }
  }

  std::int64_t vocab_size() const override { return kVocab; }
  std::int64_t sequence_length() const override { return length_; }
  std::int64_t num_classes() const override { return static_cast<std::int64_t>(labels_.size()); }
  std::vector<std::string> supported_archs() const override { return {"encoder"}; }
  std::int64_t padding_token() const override { return kPad; }
  std::vector<std::int64_t> encode(const std::string& text) const override {
    std::vector<std::int64_t> tokens;
    for (const auto byte : text) tokens.push_back(static_cast<unsigned char>(byte) + 1);
    return tokens;
  }
  // A byte as itself when it is printable ASCII, else as \xNN.
  std::string token_text(std::int64_t token) const override {
    if (token == kPad) return "<pad>";
    const auto byte = token - 1;
    if (byte >= 0x20 && byte < 0x7F) return std::string(1, static_cast<char>(byte));
    return fmt::format("\\x{:02X}", byte);
  }
  std::int64_t split_size(Split split) const override {
    if (split == Split::Train) return -1;
    const auto available = static_cast<std::int64_t>(split_documents(split).size());
    return std::min(available, split == Split::Val ? val_size_ : test_size_);
  }

  Batch examples(Split split, std::int64_t first, std::int64_t count) const override {
    const auto& documents = split_documents(split);
    const auto size = static_cast<std::uint64_t>(documents.size());
    std::vector<std::vector<std::int64_t>> rows;
    std::vector<std::int64_t> labels;
    for (std::int64_t index = first; index < first + count; ++index) {
      // The train stream draws documents uniformly by a hash of (seed, index): any step's batch
      // can be regenerated alone, as in the synthetic tasks. Val and test go in order.
      const auto pick = split == Split::Train
                            ? mix64(train_seed_ ^ static_cast<std::uint64_t>(index)) % size
                            : static_cast<std::uint64_t>(index) % size;
      rows.push_back(documents[pick].tokens);
      labels.push_back(documents[pick].label);
    }
    return {stack_rows(rows), torch::tensor(labels, torch::kLong), {}};
  }

  void add_metrics(const Batch& batch, const torch::Tensor& logits,
                   MetricSums& sums) const override {
    const auto right = logits.argmax(-1).eq(batch.targets).to(torch::kCPU);  // [B]
    const auto targets = batch.targets.to(torch::kCPU);
    for (std::int64_t row = 0; row < targets.size(0); ++row) {
      const auto& label = labels_[static_cast<std::size_t>(targets[row].item<std::int64_t>())];
      sums.add("accuracy_" + label, right[row].item<bool>() ? 1.0 : 0.0, 1.0);
    }
  }

 private:
  const std::vector<Document>& split_documents(Split split) const {
    return documents_[static_cast<int>(split)];
  }

  void load_label(const fs::path& folder, std::int64_t label) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::recursive_directory_iterator(folder)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());  // a fixed reading order
    for (const auto& file : files) {
      std::ifstream stream(file, std::ios::binary);
      if (!stream) throw config::ConfigError("task.folder: cannot read '" + file.string() + "'");
      Document document;
      document.label = label;
      std::istreambuf_iterator<char> byte(stream), end;
      for (; byte != end && static_cast<std::int64_t>(document.tokens.size()) < length_; ++byte) {
        document.tokens.push_back(static_cast<unsigned char>(*byte) + 1);
      }
      if (document.tokens.empty()) continue;  // an empty file says nothing about its label
      document.tokens.resize(static_cast<std::size_t>(length_), kPad);
      // The label is part of the content: the same text under two labels stays two documents.
      auto content = document.tokens;
      content.push_back(-1 - label);
      document.hash = hash_tokens(content);
      documents_[static_cast<int>(split_of(content))].push_back(std::move(document));
    }
  }

  std::int64_t length_, val_size_, test_size_;
  std::uint64_t train_seed_;
  std::vector<std::string> labels_;
  std::array<std::vector<Document>, 3> documents_;
};

}  // namespace

ATTNLAB_REGISTER(task_registry(),
                 {"textcls",
                  "byte-level classification of text files, one sub-folder per label",
                  {{"folder", std::string(""),
                    "textcls: folder with one sub-folder of text files per label"}},
                  {},
                  {},
                  [](const config::Config& config) {
                    return std::make_shared<TextClassificationTask>(config);
                  }});

}  // namespace attnlab::tasks
