// The value part of a command-line override, lexed per Hydra's grammar before the schema gives it
// a type. Internal to the config library.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "toml_format.h"

namespace attnlab::config::detail {

struct RawValue {
  enum class Kind { Null, Bool, Int, Float, QuotedString, BareString, List };
  Kind kind = Kind::BareString;
  std::string text;  // as typed for scalars; the unescaped contents for quoted strings
  bool bool_value = false;
  std::int64_t int_value = 0;
  double float_value = 0.0;
  std::vector<RawValue> elements;  // for lists

  bool is_string() const { return kind == Kind::QuotedString || kind == Kind::BareString; }
};

// Lexes a whole value. Throws ConfigError "malformed value 'raw': <reason> at column N" with a
// caret line; parse_override reports the same problems relative to the whole override text.
RawValue lex_value(std::string_view raw);

// The TOML node for a value whose type is not declared (keys added under free sections):
// int, float, bool, string, or an array of those. Throws ConfigError for null.
NodePtr infer_node(const RawValue& value, std::string_view key);

// "malformed <what> 'text': reason at column N" followed by the text and a caret under column N.
std::string malformed_message(std::string_view what, std::string_view text, std::string_view reason,
                              std::size_t column);

}  // namespace attnlab::config::detail
