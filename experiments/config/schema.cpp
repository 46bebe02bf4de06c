// The typed schema: declared keys with defaults and constraints, groups, free sections, checks.
#include <algorithm>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join, there since fmt 11

#include "config.h"
#include "suggest.h"
#include "toml_format.h"
#include "toml_paths.h"

namespace attnlab::config {

using detail::section_of;

std::string_view type_name(Type type) {
  switch (type) {
    case Type::Bool: return "bool";
    case Type::Int: return "int";
    case Type::Float: return "float";
    case Type::String: return "string";
    case Type::IntList: return "list[int]";
    case Type::FloatList: return "list[float]";
    case Type::StringList: return "list[string]";
  }
  return "unknown";
}

std::string describe_constraint(const Constraint& constraint) {
  std::vector<std::string> parts;
  if (constraint.min) {
    parts.push_back(fmt::format("{} {}", constraint.min_exclusive ? ">" : ">=",
                                detail::display_node(toml::value<double>(*constraint.min))));
  }
  if (constraint.max) {
    parts.push_back(
        fmt::format("<= {}", detail::display_node(toml::value<double>(*constraint.max))));
  }
  if (!constraint.choices.empty()) {
    parts.push_back(fmt::format("one of: {}", fmt::join(constraint.choices, ", ")));
  }
  return fmt::format("{}", fmt::join(parts, " and "));
}

namespace {

bool is_numeric(Type type) {
  return type == Type::Int || type == Type::Float || type == Type::IntList ||
         type == Type::FloatList;
}

bool is_textual(Type type) { return type == Type::String || type == Type::StringList; }

// Schemas are written in code, so a wrong default type is caught when the schema is built.
// An int default is accepted for a float key (`Value{1}` is an int64).
Value normalized_default(const std::string& key, Type type, Value value) {
  if (type == Type::Float && std::holds_alternative<std::int64_t>(value)) {
    return static_cast<double>(std::get<std::int64_t>(value));
  }
  if (type == Type::FloatList && std::holds_alternative<std::vector<std::int64_t>>(value)) {
    const auto& ints = std::get<std::vector<std::int64_t>>(value);
    return std::vector<double>(ints.begin(), ints.end());
  }
  if (value.index() != static_cast<std::size_t>(type)) {
    throw ConfigError(fmt::format("schema: the default of '{}' is not a {}", key, type_name(type)));
  }
  return value;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> previous(b.size() + 1);
  std::vector<std::size_t> current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

}  // namespace

Schema& Schema::add(std::string key, Type type, Value default_value, std::string doc,
                    Constraint constraint) {
  if (!detail::is_valid_key(key)) {
    throw ConfigError(fmt::format(
        "schema: invalid key '{}' (keys are letters, digits and '_', joined by '.')", key));
  }
  if (key == "defaults") throw ConfigError("schema: 'defaults' is reserved for the defaults list");
  for (const KeyDoc& existing : keys_) {
    if (existing.key == key) throw ConfigError(fmt::format("schema: key '{}' declared twice", key));
    const std::string& shorter = existing.key.size() < key.size() ? existing.key : key;
    const std::string& longer = existing.key.size() < key.size() ? key : existing.key;
    if (longer.compare(0, shorter.size() + 1, shorter + ".") == 0) {
      throw ConfigError(
          fmt::format("schema: key '{}' conflicts with '{}' (a key cannot also be a table)", key,
                      existing.key));
    }
  }
  if (section_of(key).empty() && (is_group(key) || is_free_section(key))) {
    throw ConfigError(fmt::format("schema: key '{}' conflicts with the section of that name", key));
  }
  if ((constraint.min || constraint.max) && !is_numeric(type)) {
    throw ConfigError(fmt::format("schema: key '{}': a range needs a numeric type, not {}", key,
                                  type_name(type)));
  }
  if (!constraint.choices.empty() && !is_textual(type)) {
    throw ConfigError(
        fmt::format("schema: key '{}': choices need a string type, not {}", key, type_name(type)));
  }
  Value value = normalized_default(key, type, std::move(default_value));
  keys_.push_back(
      KeyDoc{std::move(key), type, std::move(value), std::move(doc), std::move(constraint)});
  return *this;
}

namespace {

void check_section_name(const std::vector<KeyDoc>& keys, const std::string& section,
                        std::string_view what) {
  if (!detail::is_valid_key_segment(section)) {
    throw ConfigError(fmt::format("schema: invalid {} name '{}'", what, section));
  }
  for (const KeyDoc& key : keys) {
    if (key.key == section) {
      throw ConfigError(fmt::format("schema: {} '{}' conflicts with the top-level key of that name",
                                    what, section));
    }
  }
}

}  // namespace

Schema& Schema::add_group(std::string section) {
  check_section_name(keys_, section, "group");
  if (!is_group(section)) groups_.push_back(std::move(section));
  return *this;
}

Schema& Schema::add_free_section(std::string section) {
  check_section_name(keys_, section, "free section");
  if (!is_free_section(section)) free_sections_.push_back(std::move(section));
  return *this;
}

Schema& Schema::add_option_list(std::string key, std::string group, std::string tables,
                                std::string doc) {
  if (!is_group(group)) {
    throw ConfigError(fmt::format("schema: option list '{}' names '{}', which is not a group", key,
                                  group));
  }
  check_section_name(keys_, tables, "option-list section");
  const bool taken = is_group(tables) || is_free_section(tables) ||
                     std::any_of(keys_.begin(), keys_.end(),
                                 [&](const KeyDoc& doc) { return section_of(doc.key) == tables; });
  if (taken) throw ConfigError(fmt::format("schema: section '{}' is already in use", tables));
  add(key, Type::StringList, std::vector<std::string>{}, std::move(doc));
  option_lists_.push_back(OptionList{std::move(key), std::move(group), std::move(tables)});
  return *this;
}

const OptionList* Schema::option_list_of(std::string_view section) const {
  for (const OptionList& list : option_lists_) {
    if (list.tables == section) return &list;
  }
  return nullptr;
}

std::optional<KeyDoc> Schema::find_copied(std::string_view key) const {
  const OptionList* list = option_list_of(section_of(key));
  if (list == nullptr) return std::nullopt;
  const std::string_view in_table = detail::key_in_section(key);  // "<option>.<key>"
  const std::size_t dot = in_table.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const KeyDoc* doc = find(detail::join_key(list->group, in_table.substr(dot + 1)));
  if (doc == nullptr) return std::nullopt;
  KeyDoc copied = *doc;
  copied.key = std::string(key);
  return copied;
}

Schema& Schema::add_check(CrossCheck check) {
  checks_.push_back(std::move(check));
  return *this;
}

const KeyDoc* Schema::find(std::string_view key) const {
  for (const KeyDoc& doc : keys_) {
    if (doc.key == key) return &doc;
  }
  return nullptr;
}

bool Schema::is_group(std::string_view section) const {
  return std::find(groups_.begin(), groups_.end(), section) != groups_.end();
}

bool Schema::is_free_section(std::string_view section) const {
  return std::find(free_sections_.begin(), free_sections_.end(), section) != free_sections_.end();
}

std::vector<std::string> Schema::sections() const {
  std::vector<std::string> sections;
  auto add_once = [&](std::string_view section) {
    if (!section.empty() &&
        std::find(sections.begin(), sections.end(), section) == sections.end()) {
      sections.emplace_back(section);
    }
  };
  auto add_with_tables = [&](std::string_view section) {
    add_once(section);
    for (const OptionList& list : option_lists_) {
      if (list.group == section) add_once(list.tables);
    }
  };
  for (const KeyDoc& doc : keys_) add_with_tables(section_of(doc.key));
  for (const std::string& group : groups_) add_with_tables(group);
  for (const std::string& section : free_sections_) add_once(section);
  return sections;
}

std::vector<std::string> Schema::nearest(std::string_view key, std::size_t count) const {
  std::vector<std::string> names;
  for (const KeyDoc& doc : keys_) names.push_back(doc.key);
  return detail::nearest_names(key, names, count);
}

std::string Schema::document() const {
  auto describe_key = [](const KeyDoc& doc) {
    std::string line = fmt::format("  {} : {} = {}", doc.key, type_name(doc.type),
                                   detail::format_value(doc.default_value));
    std::string constraint = describe_constraint(doc.constraint);
    if (!constraint.empty()) line += fmt::format("  [{}]", constraint);
    line += "\n";
    if (!doc.doc.empty()) line += fmt::format("      {}\n", doc.doc);
    return line;
  };

  std::string text =
      "Configuration keys by section: type = code default  [constraint], then what the key "
      "does.\nSet a key with key=value on the command line.\n";
  bool has_top_level = false;
  for (const KeyDoc& doc : keys_) has_top_level = has_top_level || section_of(doc.key).empty();
  if (has_top_level) {
    text += "\n(top level)\n";
    for (const KeyDoc& doc : keys_) {
      if (section_of(doc.key).empty()) text += describe_key(doc);
    }
  }
  for (const std::string& section : sections()) {
    text += fmt::format("\n[{}]", section);
    if (is_group(section)) {
      text += fmt::format("  group: pick an option file with {}=<option>", section);
    }
    if (is_free_section(section)) {
      text += fmt::format("  free section: add keys with +{}.<key>=<value>", section);
    }
    if (const OptionList* list = option_list_of(section)) {
      text += fmt::format("  a copy {}.<option>.<key> of each {} option {} names; keys as in [{}]",
                          section, list->group, list->key, list->group);
    }
    text += "\n";
    for (const KeyDoc& doc : keys_) {
      if (section_of(doc.key) == section) text += describe_key(doc);
    }
  }
  return text;
}

namespace detail {

// A typo usually sits in one component, and a key is often given without (or with the wrong)
// section, so both the whole name and its last component are compared. Whole-name matches win
// ties; distances beyond about a third of the length are not suggestions but noise.
std::vector<std::string> nearest_names(std::string_view query,
                                       const std::vector<std::string>& candidates,
                                       std::size_t count) {
  constexpr std::size_t kNoMatch = std::numeric_limits<std::size_t>::max();
  std::string_view last = last_segment(query);
  std::size_t full_limit = std::max<std::size_t>(2, query.size() / 3);
  std::size_t last_limit = std::max<std::size_t>(1, last.size() / 3);

  std::vector<std::pair<std::size_t, std::size_t>> scored;  // (score, candidate index)
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    std::size_t score = kNoMatch;
    std::size_t full = edit_distance(query, candidates[i]);
    if (full <= full_limit) score = 2 * full;
    std::size_t partial = edit_distance(last, last_segment(candidates[i]));
    if (partial <= last_limit) score = std::min(score, 2 * partial + 1);
    if (score != kNoMatch) scored.emplace_back(score, i);
  }
  std::stable_sort(scored.begin(), scored.end());
  std::vector<std::string> names;
  for (std::size_t i = 0; i < scored.size() && names.size() < count; ++i) {
    names.push_back(candidates[scored[i].second]);
  }
  return names;
}

}  // namespace detail

}  // namespace attnlab::config
