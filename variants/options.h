// Options of attention variants: each score, position scheme and pattern declares the options it
// reads (name, default, doc, range). The experiment layer turns these declarations into `variant.*`
// config keys, so a new variant's options need no edit outside variants/.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

#include "base/option_spec.h"

namespace attnlab::variants {

// A variant was asked for something it cannot do: unknown name, bad option, incompatible parts.
// The message names the option key (`variant.window`) so the CLI can report it as a config error.
class VariantError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// The chosen values of every declared option (filled from the resolved config).
class VariantOptions {
 public:
  void set(const std::string& name, OptionValue value) { values_[name] = std::move(value); }
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  std::int64_t get_int(const std::string& name) const;
  double get_float(const std::string& name) const;
  bool get_bool(const std::string& name) const;
  const std::string& get_string(const std::string& name) const;
  const std::map<std::string, OptionValue>& values() const { return values_; }

 private:
  const OptionValue& at(const std::string& name) const;
  std::map<std::string, OptionValue> values_;
};

}  // namespace attnlab::variants
