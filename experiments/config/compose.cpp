// Composition: code defaults, then the defaults list's group options, then the config file's own
// keys, then command-line overrides; finally constraints and cross-checks.
#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join, there since fmt 11

#include "config.h"
#include "override_value.h"
#include "suggest.h"
#include "toml_format.h"
#include "toml_paths.h"

namespace attnlab::config {

namespace fs = std::filesystem;
using detail::find_node;
using detail::section_of;

namespace {

// "path:line:col", the prefix of every message about a place in a file.
std::string where(const toml::source_region& region) {
  std::string path = region.path ? *region.path : std::string("<unknown file>");
  return fmt::format("{}:{}:{}", path, region.begin.line, region.begin.column);
}

// "path:line", how a value's origin is reported by validation.
std::string origin_of(const toml::source_region& region) {
  std::string path = region.path ? *region.path : std::string("<unknown file>");
  return fmt::format("{}:{}", path, region.begin.line);
}

toml::table load_toml(const fs::path& path, std::string_view missing_message) {
  std::error_code error;
  if (!fs::is_regular_file(path, error)) {
    throw ConfigError(fmt::format("{}{}", missing_message, path.string()));
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  if (!in) throw ConfigError(fmt::format("cannot read {}", path.string()));
  try {
    return toml::parse(content.str(), path.string());
  } catch (const toml::parse_error& parse_error) {
    throw ConfigError(
        fmt::format("{}: {}", where(parse_error.source()), parse_error.description()));
  }
}

std::string did_you_mean(const std::vector<std::string>& candidates) {
  return candidates.empty() ? std::string() : fmt::format("; did you mean '{}'?", candidates[0]);
}

// One entry of the defaults list: which option file fills a group, and where it was asked for
// (the config file's path, or "override 'variant=rope'"), for messages.
struct DefaultsEntry {
  std::string group;
  std::string option;
  std::string requested_in;
};

// The typed value of a declared key from a TOML file, or nothing if the node has another type.
// Ints are accepted for floats, as everywhere.
std::optional<Value> declared_value(const KeyDoc& doc, const toml::node& node) {
  auto element_values = [&](auto tag) -> std::optional<Value> {
    using T = decltype(tag);
    const toml::array* array = node.as_array();
    if (array == nullptr) return std::nullopt;
    std::vector<T> values;
    for (const toml::node& element : *array) {
      std::optional<T> value = element.value_exact<T>();
      if constexpr (std::is_same_v<T, double>) {
        if (!value) value = detail::number_of(element);
      }
      if (!value) return std::nullopt;
      values.push_back(*value);
    }
    return Value{std::move(values)};
  };
  switch (doc.type) {
    case Type::Bool:
      if (auto v = node.value_exact<bool>()) return Value{*v};
      return std::nullopt;
    case Type::Int:
      if (auto v = node.value_exact<std::int64_t>()) return Value{*v};
      return std::nullopt;
    case Type::Float:
      if (auto v = node.value_exact<double>()) return Value{*v};
      if (auto v = node.value_exact<std::int64_t>()) return Value{static_cast<double>(*v)};
      return std::nullopt;
    case Type::String:
      if (auto v = node.value_exact<std::string>()) return Value{*v};
      return std::nullopt;
    case Type::IntList: return element_values(std::int64_t{});
    case Type::FloatList: return element_values(double{});
    case Type::StringList: return element_values(std::string{});
  }
  return std::nullopt;
}

// Equality for `~key=value`: numbers compare by value (1 == 1.0), everything else by its text.
bool same_value(const toml::node& a, const toml::node& b) {
  std::optional<double> number_a = detail::number_of(a);
  std::optional<double> number_b = detail::number_of(b);
  if (number_a && number_b) return *number_a == *number_b;
  const toml::array* array_a = a.as_array();
  const toml::array* array_b = b.as_array();
  if (array_a != nullptr && array_b != nullptr) {
    if (array_a->size() != array_b->size()) return false;
    for (std::size_t i = 0; i < array_a->size(); ++i) {
      if (!same_value(*array_a->get(i), *array_b->get(i))) return false;
    }
    return true;
  }
  return detail::format_node(a) == detail::format_node(b);
}

class Composer {
 public:
  Composer(const Schema& schema, const ComposeRequest& request)
      : schema_(schema), request_(request) {}

  Config run() {
    std::vector<Override> overrides;
    for (const std::string& text : request_.overrides) overrides.push_back(parse_override(text));

    toml::table file = load_toml(request_.config_file, "config file not found: ");
    std::vector<DefaultsEntry> defaults = read_defaults(file);
    for (const Override& override_ : overrides) {
      if (is_group_override(override_)) apply_group_override(override_, defaults);
    }

    for (const KeyDoc& doc : schema_.keys()) set_declared(doc, doc.default_value, "code default");
    for (const DefaultsEntry& entry : defaults) apply_defaults_entry(entry);
    apply_table(file, "", /*skip_defaults_key=*/true);
    for (const Override& override_ : overrides) {
      if (!is_group_override(override_) && !in_copied_option(override_.key)) {
        apply_key_override(override_);
      }
    }
    // Overrides of a copied option's keys lay over the copy, so the copy is made first.
    copy_listed_options();
    for (const Override& override_ : overrides) {
      if (in_copied_option(override_.key)) apply_copied_override(override_);
    }

    validate_constraints();
    Config config(table_, schema_.sections(), key_order());
    run_cross_checks(config);
    return config;
  }

 private:
  // ---- the defaults list ----

  std::vector<DefaultsEntry> read_defaults(const toml::table& file) const {
    std::vector<DefaultsEntry> entries;
    const toml::node* node = file.get("defaults");
    if (node == nullptr) return entries;
    const toml::array* array = node->as_array();
    if (array == nullptr) {
      throw ConfigError(
          fmt::format("{}: 'defaults' must be an array of \"group/option\" strings, found {}",
                      where(node->source()), detail::describe_node(*node)));
    }
    for (const toml::node& element : *array) {
      std::string position = where(element.source());
      std::optional<std::string> text = element.value_exact<std::string>();
      std::size_t slash = text ? text->find('/') : std::string::npos;
      if (!text || slash == std::string::npos || slash == 0 || slash + 1 == text->size() ||
          text->find('/', slash + 1) != std::string::npos) {
        throw ConfigError(fmt::format("{}: defaults entry {} must be a \"group/option\" string",
                                      position, detail::display_node(element)));
      }
      DefaultsEntry entry{text->substr(0, slash), text->substr(slash + 1),
                          request_.config_file.string()};
      if (!schema_.is_group(entry.group)) {
        throw ConfigError(
            fmt::format("{}: unknown group '{}' in defaults entry '{}' (groups: {}){}", position,
                        entry.group, *text, fmt::join(schema_.groups(), ", "),
                        did_you_mean(detail::nearest_names(entry.group, schema_.groups(), 1))));
      }
      if (find_entry(entries, entry.group) != entries.end()) {
        throw ConfigError(
            fmt::format("{}: group '{}' appears twice in defaults", position, entry.group));
      }
      entries.push_back(std::move(entry));
    }
    return entries;
  }

  static std::vector<DefaultsEntry>::iterator find_entry(std::vector<DefaultsEntry>& entries,
                                                         std::string_view group) {
    return std::find_if(entries.begin(), entries.end(),
                        [&](const DefaultsEntry& entry) { return entry.group == group; });
  }

  // `variant=rope`, `+variant=rope`, `~variant`: the key names a group, not a value.
  bool is_group_override(const Override& override_) const {
    return section_of(override_.key).empty() && schema_.is_group(override_.key);
  }

  static ConfigError override_error(const Override& override_, std::string_view message) {
    return ConfigError(fmt::format("override '{}': {}", override_.text, message));
  }

  std::string option_name(const Override& override_) const {
    detail::RawValue value = detail::lex_value(*override_.raw_value);
    if (value.kind == detail::RawValue::Kind::Null) {
      throw override_error(override_,
                           fmt::format("a group option cannot be null; use '~{}' to remove the "
                                       "group",
                                       override_.key));
    }
    if (value.kind == detail::RawValue::Kind::List || value.text.empty() ||
        value.text.find_first_of("/\\") != std::string::npos) {
      throw override_error(override_,
                           fmt::format("expected an option name for group '{}'", override_.key));
    }
    return value.text;
  }

  void apply_group_override(const Override& override_, std::vector<DefaultsEntry>& defaults) const {
    const std::string& group = override_.key;
    auto entry = find_entry(defaults, group);
    bool present = entry != defaults.end();
    std::string origin = fmt::format("override '{}'", override_.text);
    switch (override_.kind) {
      case Override::Kind::Set:
        if (!present) {
          throw override_error(override_,
                               fmt::format("group '{}' is not in the defaults list; use '+{}' to "
                                           "add it",
                                           group, override_.text));
        }
        *entry = DefaultsEntry{group, option_name(override_), origin};
        return;
      case Override::Kind::Add:
        if (present) {
          throw override_error(
              override_, fmt::format("group '{}' is already in the defaults list (as '{}/{}'); "
                                     "use '{}={}' to change it",
                                     group, group, entry->option, group, *override_.raw_value));
        }
        defaults.push_back(DefaultsEntry{group, option_name(override_), origin});
        return;
      case Override::Kind::ForceAdd:
        if (present) {
          *entry = DefaultsEntry{group, option_name(override_), origin};
        } else {
          defaults.push_back(DefaultsEntry{group, option_name(override_), origin});
        }
        return;
      case Override::Kind::Delete:
        if (!present) {
          throw override_error(override_,
                               fmt::format("group '{}' is not in the defaults list", group));
        }
        if (override_.raw_value && option_name(override_) != entry->option) {
          throw override_error(override_, fmt::format("group '{}' is '{}', not '{}'", group,
                                                      entry->option, option_name(override_)));
        }
        defaults.erase(entry);
        return;
    }
  }

  // `<search dir>/<group>/<option>.toml`, the first search dir that has it.
  fs::path option_file(const std::string& group, const std::string& option,
                       const std::string& requested_in) const {
    for (const fs::path& dir : request_.search_dirs) {
      fs::path candidate = dir / group / (option + ".toml");
      std::error_code error;
      if (fs::is_regular_file(candidate, error)) return candidate;
    }
    std::vector<std::string> options = group_options(request_.search_dirs, group);
    std::string valid = options.empty() ? std::string("none found in the search dirs")
                                        : fmt::format("{}", fmt::join(options, ", "));
    throw ConfigError(fmt::format("unknown option '{}' for group '{}' (in {}); valid options: {}",
                                  option, group, requested_in, valid));
  }

  void apply_defaults_entry(const DefaultsEntry& entry) {
    toml::table options = load_toml(option_file(entry.group, entry.option, entry.requested_in),
                                    "option file not found: ");
    apply_table(options, entry.group, /*skip_defaults_key=*/false);

    const KeyDoc* name = schema_.find(detail::join_key(entry.group, "name"));
    if (name != nullptr && name->type == Type::String && !options.contains("name")) {
      set_declared(*name, Value{entry.option},
                   fmt::format("defaults entry '{}/{}'", entry.group, entry.option));
    }
  }

  // ---- keys from files ----

  // Applies every key of a file's table, `prefix` being the group for option files (their keys
  // are relative to it) and empty for the config file.
  void apply_table(const toml::table& table, const std::string& prefix, bool skip_defaults_key) {
    for (auto&& [name, node] : table) {
      if (skip_defaults_key && name.str() == "defaults") continue;
      // Quoted TOML keys may hold anything, but dotted keys could not name them.
      if (!detail::is_valid_key_segment(name.str())) {
        throw ConfigError(
            fmt::format("{}: invalid key name {} (keys are letters, digits and '_', joined by '.')",
                        where(name.source()), detail::quote_string(name.str())));
      }
      apply_file_node(detail::join_key(prefix, name.str()), name.source(), node);
    }
  }

  void apply_file_node(const std::string& key, const toml::source_region& key_source,
                       const toml::node& node) {
    if (const KeyDoc* doc = find_doc(key)) {
      std::optional<Value> value = declared_value(*doc, node);
      if (!value) {
        throw ConfigError(fmt::format("{}: key '{}' expects {}, found {}", where(node.source()),
                                      key, type_name(doc->type), detail::describe_node(node)));
      }
      set_declared(*doc, *value, origin_of(node.source()));
      return;
    }
    const toml::table* subtable = node.as_table();
    if (is_free_key(key)) {
      if (subtable != nullptr) {
        apply_table(*subtable, key, false);
      } else {
        store(key, node, key_source);
      }
      return;
    }
    if (is_section(key)) {
      if (subtable == nullptr) {
        throw ConfigError(fmt::format("{}: '{}' is a section; expected a table of keys, found {}",
                                      where(key_source), key, detail::describe_node(node)));
      }
      apply_table(*subtable, key, false);
      return;
    }
    // A misspelt table: report its keys, whose full names give better suggestions.
    if (subtable != nullptr && !subtable->empty()) {
      apply_table(*subtable, key, false);
      return;
    }
    throw ConfigError(fmt::format("{}: unknown key '{}'{}", where(key_source), key,
                                  did_you_mean(schema_.nearest(key))));
  }

  // ---- overrides of keys ----

  void apply_key_override(const Override& override_) {
    const std::string& key = override_.key;
    const KeyDoc* doc = find_doc(key);
    const std::string origin = fmt::format("override '{}'", override_.text);
    const toml::node* existing = find_node(table_, key);
    switch (override_.kind) {
      case Override::Kind::Set:
        if (doc != nullptr) {
          set_declared_from_override(*doc, override_, origin);
        } else if (is_free_key(key) && existing != nullptr) {
          store(key, std::move(*inferred(override_)), override_);
        } else if (is_free_key(key)) {
          throw override_error(override_, fmt::format("key '{}' does not exist; use '+{}' to add "
                                                      "it",
                                                      key, override_.text));
        } else {
          throw ConfigError(fmt::format("unknown key '{}' in override '{}'{}", key, override_.text,
                                        did_you_mean(schema_.nearest(key))));
        }
        return;
      case Override::Kind::Add:
        if (doc != nullptr || existing != nullptr) {
          throw override_error(override_, fmt::format("cannot add '{}': the key already exists; "
                                                      "use ++ to override it ('+{}')",
                                                      key, override_.text));
        }
        require_free_key(override_);
        store(key, std::move(*inferred(override_)), override_);
        return;
      case Override::Kind::ForceAdd:
        if (doc != nullptr) {
          set_declared_from_override(*doc, override_, origin);
          return;
        }
        require_free_key(override_);
        store(key, std::move(*inferred(override_)), override_);
        return;
      case Override::Kind::Delete:
        if (existing == nullptr || (doc == nullptr && existing->is_table())) {
          throw override_error(override_, fmt::format("cannot delete '{}': no such key", key));
        }
        if (override_.raw_value) {
          detail::NodePtr expected =
              doc != nullptr ? parse_for_override(*doc, override_) : inferred(override_);
          if (!same_value(*existing, *expected)) {
            throw override_error(
                override_,
                fmt::format("cannot delete '{}': its value is {}, not {}", key,
                            detail::display_node(*existing), detail::display_node(*expected)));
          }
        }
        // A key of a copied option goes, leaving the group's value to the item it configures.
        if (doc != nullptr && !in_copied_option(key)) {
          set_declared(*doc, doc->default_value, "code default");
        } else {
          detail::erase_node(table_, key);
        }
        return;
    }
  }

  detail::NodePtr parse_for_override(const KeyDoc& doc, const Override& override_) const {
    try {
      return parse_value(*override_.raw_value, doc);
    } catch (const ConfigError& error) {
      throw override_error(override_, error.what());
    }
  }

  void set_declared_from_override(const KeyDoc& doc, const Override& override_,
                                  const std::string& origin) {
    detail::NodePtr node = parse_for_override(doc, override_);
    detail::set_node(table_, doc.key, std::move(*node));
    origins_[doc.key] = origin;
  }

  detail::NodePtr inferred(const Override& override_) const {
    try {
      return detail::infer_node(detail::lex_value(*override_.raw_value), override_.key);
    } catch (const ConfigError& error) {
      throw override_error(override_, error.what());
    }
  }

  void require_free_key(const Override& override_) const {
    if (is_free_key(override_.key)) return;
    std::string section(section_of(override_.key));
    std::string why = section.empty() ? std::string("new keys must be inside a section")
                                      : fmt::format("'{}' is not a free section", section);
    std::vector<std::string> free_sections;
    for (const std::string& candidate : schema_.sections()) {
      if (schema_.is_free_section(candidate)) free_sections.push_back(candidate);
    }
    std::string where_allowed =
        free_sections.empty()
            ? std::string("no section accepts new keys")
            : fmt::format("keys can only be added under: {}", fmt::join(free_sections, ", "));
    throw override_error(override_,
                         fmt::format("cannot add '{}': {}; {}", override_.key, why, where_allowed));
  }

  // ---- option lists (model.layer_variants) ----

  // A declared key, or a key of an option list's copy typed as its group's; nullptr otherwise.
  const KeyDoc* find_doc(const std::string& key) {
    if (const KeyDoc* doc = schema_.find(key)) return doc;
    auto cached = copied_docs_.find(key);
    if (cached != copied_docs_.end()) return &cached->second;
    std::optional<KeyDoc> doc = schema_.find_copied(key);
    return doc ? &copied_docs_.emplace(key, std::move(*doc)).first->second : nullptr;
  }

  bool in_copied_option(const std::string& key) const {
    return schema_.option_list_of(section_of(key)) != nullptr;
  }

  // The distinct options a list names, in order.
  std::vector<std::string> listed_options(const OptionList& list) const {
    std::vector<std::string> names;
    for (const toml::node& element : *find_node(table_, list.key)->as_array()) {
      const std::string name = *element.value_exact<std::string>();
      if (!detail::is_valid_key_segment(name)) {
        throw ConfigError(fmt::format(
            "key '{}': '{}' cannot name a table {}.<option> (options named by a list are letters, "
            "digits and '_') (from {})",
            list.key, name, list.tables, origins_.at(list.key)));
      }
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    return names;
  }

  // Copies each listed option file into its table unless the config file gave that table, and
  // drops the tables no list names (a saved config whose list an override changed).
  void copy_listed_options() {
    for (const OptionList& list : schema_.option_lists()) {
      const std::vector<std::string> names = listed_options(list);
      if (const toml::node* node = find_node(table_, list.tables)) {
        std::vector<std::string> unlisted;
        for (auto&& [name, table] : *node->as_table()) {
          if (std::find(names.begin(), names.end(), name.str()) == names.end()) {
            unlisted.emplace_back(name.str());
          }
        }
        for (const std::string& name : unlisted) {
          detail::erase_node(table_, detail::join_key(list.tables, name));
        }
      }
      for (const std::string& name : names) copy_option(list, name);
    }
  }

  void copy_option(const OptionList& list, const std::string& option) {
    const std::string table = detail::join_key(list.tables, option);
    if (find_node(table_, table) != nullptr) return;  // from the config file: used as it is
    const std::string requested_in =
        fmt::format("key '{}', from {}", list.key, origins_.at(list.key));
    toml::table options =
        load_toml(option_file(list.group, option, requested_in), "option file not found: ");
    apply_table(options, table, /*skip_defaults_key=*/false);
    // As for a group: the copy names its option, which also keeps an empty option's table.
    const KeyDoc* name = find_doc(detail::join_key(table, "name"));
    if (name != nullptr && name->type == Type::String && !options.contains("name")) {
      set_declared(*name, Value{option}, fmt::format("key '{}'", list.key));
    }
  }

  void apply_copied_override(const Override& override_) {
    const OptionList& list = *schema_.option_list_of(section_of(override_.key));
    const std::vector<std::string> split = detail::split_key(override_.key);
    const std::vector<std::string> names = listed_options(list);
    if (split.size() < 2 || std::find(names.begin(), names.end(), split[1]) == names.end()) {
      throw override_error(
          override_, fmt::format("{}.<option> tables copy the options {} names ({}), and it "
                                 "names no '{}'",
                                 list.tables, list.key, fmt::join(names, ", "),
                                 split.size() < 2 ? std::string() : split[1]));
    }
    apply_key_override(override_);
  }

  // The schema's keys, then each copied option's keys in its group's declaration order.
  std::vector<std::string> key_order() const {
    std::vector<std::string> order;
    for (const KeyDoc& doc : schema_.keys()) order.push_back(doc.key);
    for (const OptionList& list : schema_.option_lists()) {
      for (const std::string& option : listed_options(list)) {
        const std::string table = detail::join_key(list.tables, option);
        for (const KeyDoc& doc : schema_.keys()) {
          if (section_of(doc.key) != list.group) continue;
          order.push_back(detail::join_key(table, detail::key_in_section(doc.key)));
        }
      }
    }
    return order;
  }

  // ---- storing values ----

  // A key below a free section that holds no declared keys (so storing a value there can never
  // replace declared ones).
  bool is_free_key(const std::string& key) const {
    std::string_view section = section_of(key);
    return !section.empty() && schema_.is_free_section(section) && schema_.find(key) == nullptr &&
           !is_section(key);
  }

  // A group, a free section, a table of declared keys ("train", "train.optim"), an option list's
  // section or one of its copies ("layer_variant", "layer_variant.local").
  bool is_section(const std::string& key) const {
    if (schema_.is_group(key) || schema_.is_free_section(key)) return true;
    const std::vector<std::string> segments = detail::split_key(key);
    if (segments.size() <= 2 && schema_.option_list_of(segments.front()) != nullptr) return true;
    std::string prefix = key + ".";
    return std::any_of(schema_.keys().begin(), schema_.keys().end(),
                       [&](const KeyDoc& doc) { return doc.key.rfind(prefix, 0) == 0; });
  }

  void set_declared(const KeyDoc& doc, const Value& value, std::string origin) {
    detail::set_node(table_, doc.key, std::move(*detail::node_from_value(value)));
    origins_[doc.key] = std::move(origin);
  }

  // Keeps an undeclared (free-section) value as given.
  void store(const std::string& key, const toml::node& node, const toml::source_region& source) {
    try {
      detail::NodePtr copy = copy_node(node);
      detail::set_node(table_, key, std::move(*copy));
    } catch (const ConfigError& error) {
      throw ConfigError(fmt::format("{}: {}", where(source), error.what()));
    }
  }

  void store(const std::string& key, toml::node&& node, const Override& override_) {
    try {
      detail::set_node(table_, key, std::move(node));
    } catch (const ConfigError& error) {
      throw override_error(override_, error.what());
    }
  }

  static detail::NodePtr copy_node(const toml::node& node) {
    return node.visit([](const auto& value) -> detail::NodePtr {
      return std::make_unique<std::decay_t<decltype(value)>>(value);
    });
  }

  // ---- validation ----

  void validate_constraints() const {
    for (const KeyDoc& doc : schema_.keys()) {
      const toml::node* node = find_node(table_, doc.key);
      if (node == nullptr) throw ConfigError(fmt::format("key '{}' has no value", doc.key));
      validate_constraint(doc, *node);
    }
    for (const auto& [key, doc] : copied_docs_) {
      if (const toml::node* node = find_node(table_, key)) validate_constraint(doc, *node);
    }
  }

  void validate_constraint(const KeyDoc& doc, const toml::node& node) const {
    std::string problem = constraint_problem(doc, node);
    if (problem.empty()) return;
    throw ConfigError(fmt::format("key '{}' = {}: {} (from {})", doc.key,
                                  detail::display_node(node), problem, origins_.at(doc.key)));
  }

  // Empty when `node` satisfies the constraint of `doc`; checks every element of a list.
  static std::string constraint_problem(const KeyDoc& doc, const toml::node& node) {
    const Constraint& constraint = doc.constraint;
    auto element_ok = [&](const toml::node& element) {
      if (std::optional<double> number = detail::number_of(element)) {
        // Written as negations so that NaN fails every range.
        if (constraint.min && constraint.min_exclusive && !(*number > *constraint.min)) {
          return false;
        }
        if (constraint.min && !constraint.min_exclusive && !(*number >= *constraint.min)) {
          return false;
        }
        if (constraint.max && !(*number <= *constraint.max)) return false;
      }
      if (auto text = element.value_exact<std::string>(); text && !constraint.choices.empty()) {
        return std::find(constraint.choices.begin(), constraint.choices.end(), *text) !=
               constraint.choices.end();
      }
      return true;
    };
    std::string requirement = "must be " + describe_constraint(constraint);
    if (const toml::array* array = node.as_array()) {
      for (std::size_t i = 0; i < array->size(); ++i) {
        if (!element_ok(*array->get(i))) {
          return fmt::format("element {} ({}) {}", i + 1, detail::display_node(*array->get(i)),
                             requirement);
        }
      }
      return {};
    }
    return element_ok(node) ? std::string() : requirement;
  }

  // Checks report problems as ConfigError; anything else they throw is still a config problem.
  void run_cross_checks(const Config& config) const {
    for (const CrossCheck& check : schema_.checks()) {
      try {
        check(config);
      } catch (const ConfigError&) {
        throw;
      } catch (const std::exception& error) {
        throw ConfigError(fmt::format("configuration check failed: {}", error.what()));
      }
    }
  }

  const Schema& schema_;
  const ComposeRequest& request_;
  toml::table table_;
  std::map<std::string, std::string> origins_;  // declared key -> where its value came from
  std::map<std::string, KeyDoc> copied_docs_;    // keys of option copies seen, typed by find_doc
};

}  // namespace

Config compose(const Schema& schema, const ComposeRequest& request) {
  return Composer(schema, request).run();
}

std::vector<std::string> group_options(const std::vector<fs::path>& search_dirs,
                                       std::string_view group) {
  std::vector<std::string> options;
  for (const fs::path& dir : search_dirs) {
    std::error_code error;
    for (fs::directory_iterator it(dir / std::string(group), error), end; !error && it != end;
         it.increment(error)) {
      if (it->path().extension() == ".toml" && it->is_regular_file(error)) {
        options.push_back(it->path().stem().string());
      }
    }
  }
  std::sort(options.begin(), options.end());
  options.erase(std::unique(options.begin(), options.end()), options.end());
  return options;
}

}  // namespace attnlab::config
