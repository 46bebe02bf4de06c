// Dotted-key access into nested TOML tables ("train.lr" -> table "train", key "lr"). Internal to
// the config library.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

namespace attnlab::config::detail {

// A key segment is [A-Za-z0-9_]+; a key is one or more segments joined by '.'.
bool is_key_char(char c);
bool is_valid_key_segment(std::string_view segment);
bool is_valid_key(std::string_view key);

std::vector<std::string> split_key(std::string_view key);
std::string join_key(std::string_view prefix, std::string_view name);  // prefix may be empty
// The first component of a dotted key; empty for a top-level key ("seed").
std::string_view section_of(std::string_view key);
// Everything after the section ("train.optim.beta" -> "optim.beta"); the key itself if top-level.
std::string_view key_in_section(std::string_view key);
std::string_view last_segment(std::string_view key);

// nullptr when any component is missing.
const toml::node* find_node(const toml::table& root, std::string_view key);
// Stores `value` at `key`, creating intermediate tables. Throws ConfigError if a prefix of `key`
// already holds a value rather than a table.
void set_node(toml::table& root, std::string_view key, toml::node&& value);
// Removes `key` and any tables left empty by the removal. Returns false if `key` did not exist.
bool erase_node(toml::table& root, std::string_view key);

// Calls `visit(dotted_key, node)` for every non-table node below `table` (arrays are leaves),
// in the table's (sorted) iteration order.
void for_each_leaf(const toml::table& table,
                   const std::function<void(const std::string&, const toml::node&)>& visit,
                   std::string_view prefix = {});

}  // namespace attnlab::config::detail
