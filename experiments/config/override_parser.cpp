// Hydra's override grammar: `[+|++|~]key[=value]`, values being numbers, bools, null, quoted or
// bare strings and (nested) lists.
#include <cctype>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "config.h"
#include "override_value.h"
#include "toml_paths.h"

namespace attnlab::config {

namespace detail {

namespace {

// A syntax problem at a 0-based offset into the lexed text; callers turn it into a ConfigError
// with the column relative to what the user typed.
struct SyntaxError {
  std::string reason;
  std::size_t offset;
};

std::string lowercase(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Characters of an unquoted string: identifier characters plus path and number punctuation.
// Bytes above 0x7f (UTF-8) are accepted so non-ASCII words need no quotes.
bool is_bare_char(char c) {
  if (is_key_char(c)) return true;
  if (static_cast<unsigned char>(c) >= 0x80) return true;
  return std::string_view("/.-:+@%*?~").find(c) != std::string_view::npos;
}

bool looks_like_int(std::string_view text) {
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) text.remove_prefix(1);
  if (text.empty()) return false;
  for (char c : text) {
    if (!is_digit(c)) return false;
  }
  return true;
}

// [+-]? (digits '.' digits? | '.' digits | digits) ([eE] [+-]? digits)?, with a '.' or an
// exponent; or [+-]? inf|nan.
bool looks_like_float(std::string_view text) {
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) text.remove_prefix(1);
  std::string lower = lowercase(text);
  if (lower == "inf" || lower == "nan") return true;
  std::size_t i = 0;
  std::size_t mantissa_digits = 0;
  bool has_dot = false;
  bool has_exponent = false;
  while (i < text.size() && is_digit(text[i])) ++i, ++mantissa_digits;
  if (i < text.size() && text[i] == '.') {
    has_dot = true;
    ++i;
    while (i < text.size() && is_digit(text[i])) ++i, ++mantissa_digits;
  }
  if (mantissa_digits == 0) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    has_exponent = true;
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    std::size_t exponent_digits = 0;
    while (i < text.size() && is_digit(text[i])) ++i, ++exponent_digits;
    if (exponent_digits == 0) return false;
  }
  return i == text.size() && (has_dot || has_exponent);
}

// from_chars takes neither a leading '+' nor upper-case INF/NAN.
double to_double(std::string_view text) {
  std::string normalized = lowercase(text[0] == '+' ? text.substr(1) : text);
  double value = 0.0;
  std::from_chars(normalized.data(), normalized.data() + normalized.size(), value);
  return value;
}

// Offset of the first byte that is not well-formed UTF-8 (overlong forms, surrogates and code
// points above U+10FFFF included), or npos. Values end up in config.toml, which TOML requires to
// be UTF-8: anything else would make a run's resolved config unreadable.
std::size_t invalid_utf8_at(std::string_view text) {
  static constexpr std::uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};  // by length
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    std::uint32_t code_point = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead & 0xe0) == 0xc0) {
      length = 2, code_point = lead & 0x1f;
    } else if ((lead & 0xf0) == 0xe0) {
      length = 3, code_point = lead & 0x0f;
    } else if ((lead & 0xf8) == 0xf0) {
      length = 4, code_point = lead & 0x07;
    } else {
      return i;
    }
    if (i + length > text.size()) return i;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return i;
      code_point = (code_point << 6) | (next & 0x3f);
    }
    if (code_point < kSmallest[length] || code_point > 0x10ffff ||
        (code_point >= 0xd800 && code_point <= 0xdfff)) {
      return i;
    }
    i += length;
  }
  return std::string_view::npos;
}

RawValue classify_bare(std::string text) {
  RawValue value;
  value.text = std::move(text);
  std::string lower = lowercase(value.text);
  if (lower == "null") {
    value.kind = RawValue::Kind::Null;
  } else if (lower == "true" || lower == "false") {
    value.kind = RawValue::Kind::Bool;
    value.bool_value = lower == "true";
  } else if (looks_like_int(value.text)) {
    std::string_view digits = value.text;
    if (digits[0] == '+') digits.remove_prefix(1);
    auto result = std::from_chars(digits.data(), digits.data() + digits.size(), value.int_value);
    if (result.ec == std::errc{}) {
      value.kind = RawValue::Kind::Int;
    } else {
      // Too large for int64: still a number, so it can go into a float key.
      value.kind = RawValue::Kind::Float;
      value.float_value = to_double(value.text);
    }
  } else if (looks_like_float(value.text)) {
    value.kind = RawValue::Kind::Float;
    value.float_value = to_double(value.text);
  } else {
    value.kind = RawValue::Kind::BareString;
  }
  return value;
}

class ValueLexer {
 public:
  explicit ValueLexer(std::string_view text) : text_(text) {}

  RawValue lex_whole() {
    if (std::size_t invalid = invalid_utf8_at(text_); invalid != std::string_view::npos) {
      throw SyntaxError{"invalid UTF-8", invalid};
    }
    skip_spaces();
    // `key=` sets the empty string, as in Hydra.
    if (at_end()) return RawValue{};
    RawValue value = lex_element();
    skip_spaces();
    if (!at_end()) {
      if (peek() == ']') throw SyntaxError{"unbalanced brackets: unexpected ']'", pos_};
      throw SyntaxError{fmt::format("unexpected '{}' after the value", peek()), pos_};
    }
    return value;
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }
  void skip_spaces() {
    while (!at_end() && (peek() == ' ' || peek() == '\t')) ++pos_;
  }

  RawValue lex_element() {
    if (at_end()) throw SyntaxError{"expected a value", pos_};
    char c = peek();
    if (c == '[') return lex_list();
    if (c == '\'' || c == '"') return lex_quoted();
    if (c == ']') throw SyntaxError{"unbalanced brackets: unexpected ']'", pos_};
    if (!is_bare_char(c)) throw SyntaxError{fmt::format("unexpected character '{}'", c), pos_};
    std::size_t start = pos_;
    while (!at_end() && is_bare_char(peek())) ++pos_;
    return classify_bare(std::string(text_.substr(start, pos_ - start)));
  }

  RawValue lex_list() {
    std::size_t open = pos_;
    // Each level is a recursive call: without a limit, a long enough `[[[[...` overflows the stack.
    if (++depth_ > kMaxListDepth) {
      throw SyntaxError{fmt::format("lists nested more than {} deep", kMaxListDepth), open};
    }
    ++pos_;
    RawValue list;
    list.kind = RawValue::Kind::List;
    skip_spaces();
    if (!at_end() && peek() == ']') {
      ++pos_;
      --depth_;
      return list;
    }
    while (true) {
      if (at_end()) throw SyntaxError{"unbalanced brackets: '[' is never closed", open};
      list.elements.push_back(lex_element());
      skip_spaces();
      if (at_end()) throw SyntaxError{"unbalanced brackets: '[' is never closed", open};
      if (peek() == ']') {
        ++pos_;
        --depth_;
        return list;
      }
      if (peek() != ',') {
        throw SyntaxError{fmt::format("expected ',' or ']' in list, found '{}'", peek()), pos_};
      }
      ++pos_;
      skip_spaces();
      if (!at_end() && peek() == ']') throw SyntaxError{"expected a value after ','", pos_};
    }
  }

  // Backslash escapes the quote character and itself; any other backslash is kept as typed
  // (so Windows paths and regexes need no doubling).
  RawValue lex_quoted() {
    char quote = peek();
    std::size_t open = pos_;
    ++pos_;
    RawValue value;
    value.kind = RawValue::Kind::QuotedString;
    while (!at_end()) {
      char c = peek();
      if (c == '\\' && pos_ + 1 < text_.size() &&
          (text_[pos_ + 1] == quote || text_[pos_ + 1] == '\\')) {
        value.text += text_[pos_ + 1];
        pos_ += 2;
      } else if (c == quote) {
        ++pos_;
        return value;
      } else {
        value.text += c;
        ++pos_;
      }
    }
    throw SyntaxError{fmt::format("unterminated quoted string (opening {} has no match)", quote),
                      open};
  }

  // Far beyond any real value, and below the 256 levels toml++ reads back from config.toml.
  static constexpr std::size_t kMaxListDepth = 100;

  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t depth_ = 0;  // lists open at pos_
};

}  // namespace

std::string malformed_message(std::string_view what, std::string_view text, std::string_view reason,
                              std::size_t column) {
  return fmt::format("malformed {} '{}': {} at column {}\n  {}\n  {}^", what, text, reason, column,
                     text, std::string(column - 1, ' '));
}

RawValue lex_value(std::string_view raw) {
  try {
    return ValueLexer(raw).lex_whole();
  } catch (const SyntaxError& error) {
    throw ConfigError(malformed_message("value", raw, error.reason, error.offset + 1));
  }
}

detail::NodePtr infer_node(const RawValue& value, std::string_view key) {
  switch (value.kind) {
    case RawValue::Kind::Null: throw ConfigError(fmt::format("key '{}' cannot be null", key));
    case RawValue::Kind::Bool: return std::make_unique<toml::value<bool>>(value.bool_value);
    case RawValue::Kind::Int: return std::make_unique<toml::value<std::int64_t>>(value.int_value);
    case RawValue::Kind::Float: return std::make_unique<toml::value<double>>(value.float_value);
    case RawValue::Kind::QuotedString:
    case RawValue::Kind::BareString: return std::make_unique<toml::value<std::string>>(value.text);
    case RawValue::Kind::List: {
      auto array = std::make_unique<toml::array>();
      for (const RawValue& element : value.elements) {
        array->push_back(std::move(*infer_node(element, key)));
      }
      return array;
    }
  }
  throw ConfigError(fmt::format("key '{}': unsupported value", key));
}

}  // namespace detail

using detail::RawValue;

Override parse_override(std::string_view text) {
  auto malformed = [&](std::string_view reason, std::size_t column) {
    return ConfigError(detail::malformed_message("override", text, reason, column));
  };
  if (text.empty()) throw malformed("empty override", 1);

  Override result;
  result.text = std::string(text);
  std::size_t key_start = 0;
  if (text.rfind("++", 0) == 0) {
    result.kind = Override::Kind::ForceAdd;
    key_start = 2;
  } else if (text[0] == '+') {
    result.kind = Override::Kind::Add;
    key_start = 1;
  } else if (text[0] == '~') {
    result.kind = Override::Kind::Delete;
    key_start = 1;
  }

  std::size_t equals = text.find('=', key_start);
  std::size_t key_end = equals == std::string_view::npos ? text.size() : equals;
  std::string_view key = text.substr(key_start, key_end - key_start);
  if (key.empty()) throw malformed("empty key", key_start + 1);
  for (std::size_t i = 0; i < key.size(); ++i) {
    std::size_t column = key_start + i + 1;
    if (key[i] == '.') {
      if (i == 0 || key[i - 1] == '.') throw malformed("empty key segment before '.'", column);
      if (i + 1 == key.size()) throw malformed("key ends with '.'", column);
    } else if (!detail::is_key_char(key[i])) {
      throw malformed(fmt::format("invalid character '{}' in key (keys are letters, digits and "
                                  "'_', joined by '.')",
                                  key[i]),
                      column);
    }
  }
  result.key = std::string(key);

  if (equals == std::string_view::npos) {
    if (result.kind != Override::Kind::Delete) {
      throw malformed("missing '=' (expected key=value)", text.size() + 1);
    }
    return result;
  }
  std::string_view raw = text.substr(equals + 1);
  try {
    detail::ValueLexer(raw).lex_whole();
  } catch (const detail::SyntaxError& error) {
    throw malformed(error.reason, equals + 1 + error.offset + 1);
  }
  result.raw_value = std::string(raw);
  return result;
}

namespace {

// `value` as a node of the scalar `type`, or nullptr if it does not fit.
detail::NodePtr typed_scalar(const RawValue& value, Type type) {
  using Kind = RawValue::Kind;
  switch (type) {
    case Type::Bool:
      if (value.kind == Kind::Bool) return std::make_unique<toml::value<bool>>(value.bool_value);
      return nullptr;
    case Type::Int:
      if (value.kind == Kind::Int) {
        return std::make_unique<toml::value<std::int64_t>>(value.int_value);
      }
      return nullptr;
    case Type::Float:
      if (value.kind == Kind::Int) {
        return std::make_unique<toml::value<double>>(static_cast<double>(value.int_value));
      }
      if (value.kind == Kind::Float) {
        return std::make_unique<toml::value<double>>(value.float_value);
      }
      return nullptr;
    case Type::String:
      // A bare number or bool given to a string key is the string as typed, as in Hydra.
      if (value.kind == Kind::List || value.kind == Kind::Null) return nullptr;
      return std::make_unique<toml::value<std::string>>(value.text);
    default: return nullptr;
  }
}

Type element_type(Type list_type) {
  switch (list_type) {
    case Type::IntList: return Type::Int;
    case Type::FloatList: return Type::Float;
    default: return Type::String;
  }
}

bool is_list_type(Type type) {
  return type == Type::IntList || type == Type::FloatList || type == Type::StringList;
}

std::string trim(std::string_view text) {
  std::size_t start = text.find_first_not_of(" \t");
  if (start == std::string_view::npos) return {};
  std::size_t end = text.find_last_not_of(" \t");
  return std::string(text.substr(start, end - start + 1));
}

}  // namespace

std::unique_ptr<toml::node> parse_value(std::string_view raw, const KeyDoc& doc) {
  RawValue value = detail::lex_value(raw);
  if (value.kind == RawValue::Kind::Null) {
    throw ConfigError(fmt::format("key '{}' cannot be null", doc.key));
  }
  auto type_error = [&] {
    return ConfigError(
        fmt::format("key '{}' expects {}, got '{}'", doc.key, type_name(doc.type), trim(raw)));
  };
  if (!is_list_type(doc.type)) {
    detail::NodePtr node = typed_scalar(value, doc.type);
    if (!node) throw type_error();
    return node;
  }
  if (value.kind != RawValue::Kind::List) throw type_error();
  auto array = std::make_unique<toml::array>();
  for (const RawValue& element : value.elements) {
    if (element.kind == RawValue::Kind::Null) {
      throw ConfigError(fmt::format("key '{}': list elements cannot be null", doc.key));
    }
    detail::NodePtr node = typed_scalar(element, element_type(doc.type));
    if (!node) throw type_error();
    array->push_back(std::move(*node));
  }
  return array;
}

}  // namespace attnlab::config
