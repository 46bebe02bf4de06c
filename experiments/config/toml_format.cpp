#include "toml_format.h"

#include <charconv>
#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "toml_paths.h"

namespace attnlab::config::detail {

namespace {

// std::to_chars picks the shortest round-trip digits; tidy its exponent ("3e-04" -> "3e-4",
// "1e+20" -> "1e20"), which TOML reads the same way.
std::string shortest_float(double value) {
  if (std::isnan(value)) return std::signbit(value) ? "-nan" : "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  std::string text(buffer, result.ptr);
  std::size_t e = text.find('e');
  if (e == std::string::npos) return text;
  std::string mantissa = text.substr(0, e);
  std::string exponent = text.substr(e + 1);
  std::string sign;
  if (exponent[0] == '-' || exponent[0] == '+') {
    if (exponent[0] == '-') sign = "-";
    exponent.erase(0, 1);
  }
  exponent.erase(0, exponent.find_first_not_of('0'));
  return mantissa + "e" + sign + exponent;
}

std::string format_node_impl(const toml::node& node, bool for_display) {
  if (const auto* v = node.as_floating_point()) {
    std::string text = shortest_float(v->get());
    if (!for_display && text.find_first_of(".eni") == std::string::npos) text += ".0";
    return text;
  }
  if (const auto* v = node.as_integer()) return std::to_string(v->get());
  if (const auto* v = node.as_boolean()) return v->get() ? "true" : "false";
  if (const auto* v = node.as_string()) return quote_string(v->get());
  if (const auto* array = node.as_array()) {
    std::string text = "[";
    for (std::size_t i = 0; i < array->size(); ++i) {
      if (i > 0) text += ", ";
      text += format_node_impl(*array->get(i), for_display);
    }
    return text + "]";
  }
  if (const auto* table = node.as_table()) {
    std::string text = "{";
    bool first = true;
    for (auto&& [name, child] : *table) {
      text += first ? " " : ", ";
      first = false;
      text += format_key_segment(name.str()) + " = " + format_node_impl(child, for_display);
    }
    return text + (first ? "}" : " }");
  }
  // Dates and times: toml++ prints them in TOML syntax.
  std::ostringstream text;
  node.visit([&](auto&& value) { text << value; });
  return text.str();
}

}  // namespace

std::string quote_string(std::string_view text) {
  std::string quoted = "\"";
  for (char c : text) {
    switch (c) {
      case '"': quoted += "\\\""; break;
      case '\\': quoted += "\\\\"; break;
      case '\b': quoted += "\\b"; break;
      case '\t': quoted += "\\t"; break;
      case '\n': quoted += "\\n"; break;
      case '\f': quoted += "\\f"; break;
      case '\r': quoted += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          quoted += fmt::format("\\u{:04X}", static_cast<unsigned char>(c));
        } else {
          quoted += c;
        }
    }
  }
  return quoted + "\"";
}

std::string format_key_segment(std::string_view segment) {
  return is_valid_key_segment(segment) ? std::string(segment) : quote_string(segment);
}

std::string format_node(const toml::node& node) { return format_node_impl(node, false); }

std::string display_node(const toml::node& node) { return format_node_impl(node, true); }

std::string format_value(const Value& value) { return format_node(*node_from_value(value)); }

std::string_view node_type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "int";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "bool";
    case toml::node_type::array: return "array";
    case toml::node_type::table: return "table";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

std::string describe_node(const toml::node& node) {
  if (node.is_table()) return "a table";
  return fmt::format("{} {}", node_type_name(node), display_node(node));
}

NodePtr node_from_value(const Value& value) {
  return std::visit(
      [](const auto& v) -> NodePtr {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, std::int64_t> ||
                      std::is_same_v<T, double> || std::is_same_v<T, std::string>) {
          return std::make_unique<toml::value<T>>(v);
        } else {
          auto array = std::make_unique<toml::array>();
          for (const auto& element : v) array->push_back(element);
          return array;
        }
      },
      value);
}

std::optional<double> number_of(const toml::node& node) {
  if (const auto* integer = node.as_integer()) return static_cast<double>(integer->get());
  if (const auto* floating = node.as_floating_point()) return floating->get();
  return std::nullopt;
}

}  // namespace attnlab::config::detail
