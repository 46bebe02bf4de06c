#include "experiments/tasks/word_tokenizer.h"

#include <algorithm>
#include <map>
#include <stdexcept>

namespace attnlab::tasks {
namespace {

bool is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// Letters, digits and every byte of a non-ASCII character.
bool is_word_byte(unsigned char c) {
  return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

}  // namespace

std::vector<std::string> split_words(const std::string& text, bool lowercase) {
  std::vector<std::string> tokens;
  std::string word;
  auto finish_word = [&] {
    if (!word.empty()) tokens.push_back(std::move(word));
    word.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const bool inner_apostrophe = c == '\'' && !word.empty() && i + 1 < text.size() &&
                                  is_word_byte(static_cast<unsigned char>(text[i + 1]));
    if (is_word_byte(c) || inner_apostrophe) {
      word += lowercase && c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a')
                                                : static_cast<char>(c);
      continue;
    }
    finish_word();
    if (!is_space(c)) tokens.emplace_back(1, static_cast<char>(c));
  }
  finish_word();
  return tokens;
}

Vocabulary::Vocabulary(std::vector<std::string> words) : words_(std::move(words)) {
  for (std::size_t id = 0; id < words_.size(); ++id) {
    ids_.emplace(words_[id], static_cast<std::int64_t>(id));
  }
}

Vocabulary Vocabulary::build(const std::vector<std::string>& words, std::int64_t size) {
  std::map<std::string, std::int64_t> counts;
  for (const auto& word : words) ++counts[word];
  counts.erase(kUnknown);
  std::vector<std::pair<std::string, std::int64_t>> ranked(counts.begin(), counts.end());
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> kept = {kUnknown};
  for (const auto& [word, count] : ranked) {
    if (static_cast<std::int64_t>(kept.size()) >= size) break;
    kept.push_back(word);
  }
  return Vocabulary(std::move(kept));
}

Vocabulary Vocabulary::parse(const std::string& text, const std::string& file) {
  std::vector<std::string> words;
  std::unordered_map<std::string, std::size_t> seen;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const auto word = text.substr(start, end - start);
    const auto line = std::to_string(words.size() + 1);
    const auto bad = [&](const std::string& why) {
      return std::invalid_argument(file + ":" + line + ": " + why);
    };
    if (word.empty()) throw bad("empty entry");
    if (std::any_of(word.begin(), word.end(),
                    [](char c) { return is_space(static_cast<unsigned char>(c)); })) {
      throw bad("'" + word + "' holds white space");
    }
    if (words.empty() && word != kUnknown) {
      throw bad("the first entry must be " + std::string(kUnknown) + ", not '" + word + "'");
    }
    if (!seen.emplace(word, words.size() + 1).second) {
      throw bad("'" + word + "' repeats line " + std::to_string(seen[word]));
    }
    words.push_back(word);
    start = end + 1;
  }
  if (words.empty()) throw std::invalid_argument(file + ": an empty vocabulary");
  return Vocabulary(std::move(words));
}

std::int64_t Vocabulary::id(const std::string& word) const {
  const auto found = ids_.find(word);
  return found == ids_.end() ? 0 : found->second;
}

const std::string& Vocabulary::word(std::int64_t id) const {
  return words_.at(static_cast<std::size_t>(id));
}

std::string Vocabulary::text() const {
  std::string text;
  for (const auto& word : words_) text += word + "\n";
  return text;
}

}  // namespace attnlab::tasks
