// A name -> factory map for one kind of variant part. Parts register themselves with one line at
// the end of their file; the pipeline only ever asks by name.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/option_spec.h"

namespace attnlab {

// An unknown name was asked for; the message names the config key and lists the registered names.
class UnknownNameError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

template <typename Part, typename... FactoryArgs>
class Registry {
 public:
  struct Entry {
    std::string name;
    std::string description;  // one line, shown by `attnlab variants`
    std::vector<OptionSpec> options;
    // Compatibility: a part may require traits that the other chosen parts provide (RoPE needs a
    // score built on q·k, trait "dot_product"); validate() rejects the combination otherwise.
    std::vector<std::string> traits;
    std::vector<std::string> requires_traits;
    std::function<std::shared_ptr<Part>(FactoryArgs...)> make;
  };

  // kind: what is registered ("score"); config_key: the key that names it ("variant.score").
  Registry(std::string kind, std::string config_key)
      : kind_(std::move(kind)), config_key_(std::move(config_key)) {}

  bool add(Entry entry) {
    const std::string name = entry.name;
    return entries_.emplace(name, std::move(entry)).second;
  }

  // Throws UnknownNameError naming the config key and listing the registered names.
  const Entry& at(const std::string& name) const {
    auto found = entries_.find(name);
    if (found == entries_.end()) {
      std::string known;
      for (const auto& [key, entry] : entries_) known += (known.empty() ? "" : ", ") + key;
      throw UnknownNameError(config_key_ + ": unknown " + kind_ + " '" + name +
                             "'; registered: " + known);
    }
    return found->second;
  }

  std::vector<const Entry*> entries() const {
    std::vector<const Entry*> all;
    for (const auto& [name, entry] : entries_) all.push_back(&entry);
    return all;
  }

  const std::string& kind() const { return kind_; }

 private:
  std::string kind_;
  std::string config_key_;
  std::map<std::string, Entry> entries_;
};

}  // namespace attnlab

#define ATTNLAB_CONCAT_INNER(a, b) a##b
#define ATTNLAB_CONCAT(a, b) ATTNLAB_CONCAT_INNER(a, b)
// Registers a part at static-initialisation time; every attnlab library is a shared one, so the
// linker keeps every registration.
#define ATTNLAB_REGISTER(registry, ...) \
  static const bool ATTNLAB_CONCAT(attnlab_registered_, __LINE__) = (registry).add(__VA_ARGS__)
