// The resolved configuration: typed getters, canonical TOML text and its hash.
#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "config.h"
#include "toml_format.h"
#include "toml_paths.h"

namespace attnlab::config {

using detail::find_node;

namespace {

const toml::node& require(const toml::table& table, std::string_view key) {
  const toml::node* node = find_node(table, key);
  if (node == nullptr) throw ConfigError(fmt::format("config has no key '{}'", key));
  return *node;
}

ConfigError wrong_type(std::string_view key, const toml::node& node, std::string_view wanted) {
  return ConfigError(
      fmt::format("config key '{}' is {}, not {}", key, detail::describe_node(node), wanted));
}

template <typename T>
std::vector<T> get_list(const toml::table& table, std::string_view key, std::string_view wanted) {
  const toml::node& node = require(table, key);
  const toml::array* array = node.as_array();
  if (array == nullptr) throw wrong_type(key, node, wanted);
  std::vector<T> values;
  for (const toml::node& element : *array) {
    std::optional<T> value = element.value_exact<T>();
    // Float lists also take integer elements (a hand-written `[1, 2]`).
    if constexpr (std::is_same_v<T, double>) {
      if (!value) value = detail::number_of(element);
    }
    if (!value) throw wrong_type(key, node, wanted);
    values.push_back(*value);
  }
  return values;
}

}  // namespace

bool Config::has(std::string_view key) const { return find_node(table_, key) != nullptr; }

bool Config::get_bool(std::string_view key) const {
  const toml::node& node = require(table_, key);
  if (!node.is_boolean()) throw wrong_type(key, node, "a bool");
  return node.as_boolean()->get();
}

std::int64_t Config::get_int(std::string_view key) const {
  const toml::node& node = require(table_, key);
  if (!node.is_integer()) throw wrong_type(key, node, "an int");
  return node.as_integer()->get();
}

double Config::get_float(std::string_view key) const {
  const toml::node& node = require(table_, key);
  if (node.is_integer()) return static_cast<double>(node.as_integer()->get());
  if (!node.is_floating_point()) throw wrong_type(key, node, "a float");
  return node.as_floating_point()->get();
}

std::string Config::get_string(std::string_view key) const {
  const toml::node& node = require(table_, key);
  if (!node.is_string()) throw wrong_type(key, node, "a string");
  return node.as_string()->get();
}

std::vector<std::int64_t> Config::get_int_list(std::string_view key) const {
  return get_list<std::int64_t>(table_, key, "a list of ints");
}

std::vector<double> Config::get_float_list(std::string_view key) const {
  return get_list<double>(table_, key, "a list of floats");
}

std::vector<std::string> Config::get_string_list(std::string_view key) const {
  return get_list<std::string>(table_, key, "a list of strings");
}

namespace {

constexpr std::string_view kHeaderComment =
    "# resolved by attnlab; reproduce with: attnlab train --config <this file>\n";

// Position of `name` in `order`, or order.size() for names not listed (they sort after).
std::size_t rank(const std::vector<std::string>& order, std::string_view name) {
  return static_cast<std::size_t>(std::find(order.begin(), order.end(), name) - order.begin());
}

std::string format_key(std::string_view dotted) {
  std::string text;
  for (const std::string& segment : detail::split_key(dotted)) {
    if (!text.empty()) text += '.';
    text += detail::format_key_segment(segment);
  }
  return text;
}

// The body of to_toml(): top-level keys, then one [section] per section. Within a section,
// declared keys keep schema order and the others follow sorted, so the text does not depend on
// the order in which overrides added keys.
std::string render_body(const toml::table& table, const std::vector<std::string>& section_order,
                        const std::vector<std::string>& key_order) {
  struct Line {
    std::string key;
    std::string value;
  };
  std::map<std::string, std::vector<Line>> lines_by_section;  // "" holds the top-level keys
  detail::for_each_leaf(table, [&](const std::string& key, const toml::node& node) {
    lines_by_section[std::string(detail::section_of(key))].push_back(
        Line{key, detail::format_node(node)});
  });

  auto by_key_order = [&](const Line& a, const Line& b) {
    std::size_t rank_a = rank(key_order, a.key);
    std::size_t rank_b = rank(key_order, b.key);
    return rank_a != rank_b ? rank_a < rank_b : a.key < b.key;
  };
  std::vector<std::string> sections;
  for (auto& [section, lines] : lines_by_section) {
    std::sort(lines.begin(), lines.end(), by_key_order);
    if (!section.empty()) sections.push_back(section);
  }
  std::stable_sort(sections.begin(), sections.end(), [&](const auto& a, const auto& b) {
    return rank(section_order, a) < rank(section_order, b);
  });

  std::string text;
  for (const Line& line : lines_by_section[""]) {
    text += fmt::format("{} = {}\n", format_key(line.key), line.value);
  }
  for (const std::string& section : sections) {
    if (!text.empty()) text += '\n';
    text += fmt::format("[{}]\n", detail::format_key_segment(section));
    for (const Line& line : lines_by_section[section]) {
      text += fmt::format("{} = {}\n", format_key(detail::key_in_section(line.key)), line.value);
    }
  }
  return text;
}

}  // namespace

std::string Config::to_toml() const {
  return std::string(kHeaderComment) + render_body(table_, section_order_, key_order_);
}

Config Config::with_int(std::string_view key, std::int64_t value) const {
  if (!require(table_, key).is_integer()) throw wrong_type(key, require(table_, key), "an int");
  Config copy = *this;
  detail::set_node(copy.table_, key, toml::value<std::int64_t>(value));
  return copy;
}

Config Config::with_string(std::string_view key, const std::string& value) const {
  if (!require(table_, key).is_string()) throw wrong_type(key, require(table_, key), "a string");
  Config copy = *this;
  detail::set_node(copy.table_, key, toml::value<std::string>(value));
  return copy;
}

std::string Config::hash() const {
  std::uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a 64 offset basis
  for (char c : render_body(table_, section_order_, key_order_)) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;  // FNV-1a 64 prime
  }
  return fmt::format("{:016x}", hash);
}

}  // namespace attnlab::config
