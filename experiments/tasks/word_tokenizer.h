// wordlm's tokenizer and vocabulary.
//
// Tokens are words and punctuation: a word is a run of letters and digits (any non-ASCII
// character counts as a letter, so "café" and "naïve" stay whole), with an apostrophe between two
// such characters kept inside it ("don't"); every other character that is not white space is a
// token of its own ("," "." "?"). With lower-casing, ASCII letters are lower-cased.
//
// The vocabulary is "<unk>" (id 0, every word it does not hold) and then the most frequent words
// of the training text, most frequent first (ties in byte order). Its text form is one entry per
// line in id order, the way the run keeps it (vocabulary.txt).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace attnlab::tasks {

std::vector<std::string> split_words(const std::string& text, bool lowercase);

class Vocabulary {
 public:
  static constexpr const char* kUnknown = "<unk>";

  // The `size` - 1 most frequent of `words` after "<unk>" (fewer when fewer are distinct).
  static Vocabulary build(const std::vector<std::string>& words, std::int64_t size);
  // Reads the text form; throws std::invalid_argument naming `file` and the line of a bad entry
  // (empty, holding white space, repeated, or a first line other than "<unk>").
  static Vocabulary parse(const std::string& text, const std::string& file);

  std::int64_t size() const { return static_cast<std::int64_t>(words_.size()); }
  std::int64_t id(const std::string& word) const;  // 0 for a word it does not hold
  const std::string& word(std::int64_t id) const;  // throws std::out_of_range
  std::string text() const;

 private:
  explicit Vocabulary(std::vector<std::string> words);
  std::vector<std::string> words_;  // by id
  std::unordered_map<std::string, std::int64_t> ids_;
};

}  // namespace attnlab::tasks
