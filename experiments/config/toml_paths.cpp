#include "toml_paths.h"

#include "config.h"

namespace attnlab::config::detail {

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool is_valid_key_segment(std::string_view segment) {
  if (segment.empty()) return false;
  for (char c : segment) {
    if (!is_key_char(c)) return false;
  }
  return true;
}

bool is_valid_key(std::string_view key) {
  for (const std::string& segment : split_key(key)) {
    if (!is_valid_key_segment(segment)) return false;
  }
  return true;
}

std::vector<std::string> split_key(std::string_view key) {
  std::vector<std::string> segments;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = key.find('.', start);
    segments.emplace_back(key.substr(start, dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return segments;
}

std::string join_key(std::string_view prefix, std::string_view name) {
  if (prefix.empty()) return std::string(name);
  std::string key(prefix);
  key += '.';
  key += name;
  return key;
}

std::string_view section_of(std::string_view key) {
  std::size_t dot = key.find('.');
  return dot == std::string_view::npos ? std::string_view{} : key.substr(0, dot);
}

std::string_view key_in_section(std::string_view key) {
  std::size_t dot = key.find('.');
  return dot == std::string_view::npos ? key : key.substr(dot + 1);
}

std::string_view last_segment(std::string_view key) {
  std::size_t dot = key.rfind('.');
  return dot == std::string_view::npos ? key : key.substr(dot + 1);
}

const toml::node* find_node(const toml::table& root, std::string_view key) {
  const toml::table* table = &root;
  std::vector<std::string> segments = split_key(key);
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const toml::node* node = table->get(segments[i]);
    if (node == nullptr || i + 1 == segments.size()) return node;
    table = node->as_table();
    if (table == nullptr) return nullptr;
  }
  return nullptr;
}

void set_node(toml::table& root, std::string_view key, toml::node&& value) {
  toml::table* table = &root;
  std::vector<std::string> segments = split_key(key);
  std::string walked;
  for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
    walked = join_key(walked, segments[i]);
    toml::node* node = table->get(segments[i]);
    if (node == nullptr) {
      node = table->insert_or_assign(segments[i], toml::table{}).first->second.as_table();
    }
    table = node->as_table();
    if (table == nullptr) {
      throw ConfigError("cannot set '" + std::string(key) + "': '" + walked +
                        "' holds a value, not a table of keys");
    }
  }
  table->insert_or_assign(segments.back(), std::move(value));
}

namespace {

bool erase_segments(toml::table& table, const std::vector<std::string>& segments,
                    std::size_t index) {
  auto it = table.find(segments[index]);
  if (it == table.end()) return false;
  if (index + 1 == segments.size()) {
    table.erase(it);
    return true;
  }
  toml::table* child = it->second.as_table();
  if (child == nullptr || !erase_segments(*child, segments, index + 1)) return false;
  if (child->empty()) table.erase(it);
  return true;
}

}  // namespace

bool erase_node(toml::table& root, std::string_view key) {
  return erase_segments(root, split_key(key), 0);
}

void for_each_leaf(const toml::table& table,
                   const std::function<void(const std::string&, const toml::node&)>& visit,
                   std::string_view prefix) {
  for (auto&& [name, node] : table) {
    std::string key = join_key(prefix, name.str());
    if (const toml::table* child = node.as_table()) {
      for_each_leaf(*child, visit, key);
    } else {
      visit(key, node);
    }
  }
}

}  // namespace attnlab::config::detail
