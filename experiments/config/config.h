// Hydra-like configuration: a typed schema, TOML files composed through a `defaults` list, and
// command-line overrides in Hydra's grammar. No torch here: this header is included widely.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <toml++/toml.h>

namespace attnlab::config {

// Every user-facing configuration problem. The CLI maps it to exit code 2. The message names the
// key, and the file:line:col or override text (with the column of the error) where known.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Type { Bool, Int, Float, String, IntList, FloatList, StringList };
std::string_view type_name(Type type);  // "bool", "int", "float", "string", "list[int]", ...

using Value = std::variant<bool, std::int64_t, double, std::string, std::vector<std::int64_t>,
                           std::vector<double>, std::vector<std::string>>;

// Range and choice checks applied to a key's value (to each element for lists).
struct Constraint {
  std::optional<double> min;           // inclusive unless min_exclusive
  bool min_exclusive = false;
  std::optional<double> max;           // inclusive
  std::vector<std::string> choices;    // for strings: the allowed values
};

// The constraints schemas declare, by name.
inline Constraint positive() { return {0.0, true, std::nullopt, {}}; }
inline Constraint at_least(double min) { return {min, false, std::nullopt, {}}; }
inline Constraint between(double min, double max) { return {min, false, max, {}}; }
inline Constraint one_of(std::vector<std::string> choices) {
  return {std::nullopt, false, std::nullopt, std::move(choices)};
}

// "> 0", ">= 1 and <= 8", "one of: a, b"; empty when unconstrained.
std::string describe_constraint(const Constraint& constraint);

struct KeyDoc {
  std::string key;  // dotted path, e.g. "train.lr"; top-level keys have no dot ("seed")
  Type type;
  Value default_value;
  std::string doc;  // one line
  Constraint constraint;
};

// A check that involves several keys (e.g. model.d_model divisible by model.heads). It throws
// ConfigError naming the key it blames.
class Config;
using CrossCheck = std::function<void(const Config&)>;

// A list key whose elements name options of a group, one per item it configures
// (`model.layer_variants = ["local", "scaled"]` names configs/variant/local.toml and scaled.toml,
// one per block). Composition copies each named option file into the table
// `<tables>.<option>` (`layer_variant.local.window`), its keys typed as the group's, so that the
// resolved config holds every option it uses and reproduces the run without the option files.
struct OptionList {
  std::string key;     // "model.layer_variants"
  std::string group;   // "variant"
  std::string tables;  // "layer_variant": the section of the copies
};

class Schema {
 public:
  // Declares a key. Keys are unique; the first path component of a dotted key is its section.
  Schema& add(std::string key, Type type, Value default_value, std::string doc,
              Constraint constraint = {});
  // A section whose options live in files `<config dir>/<section>/<option>.toml`
  // (model, variant, task, train). If the schema has `<section>.name`, composition sets it to the
  // chosen option's name unless the option file sets it.
  Schema& add_group(std::string section);
  Schema& add_check(CrossCheck check);
  // Sections under which `+key=value` may add undeclared keys (e.g. "extra"); their keys are kept
  // in the resolved config and printed by `config show`, but never validated.
  Schema& add_free_section(std::string section);
  // Declares `key`, a list of `group`'s options (string list, default empty), and the section
  // `tables` of their copies (see OptionList).
  Schema& add_option_list(std::string key, std::string group, std::string tables, std::string doc);

  const KeyDoc* find(std::string_view key) const;
  const std::vector<KeyDoc>& keys() const { return keys_; }
  const std::vector<std::string>& groups() const { return groups_; }
  bool is_group(std::string_view section) const;
  bool is_free_section(std::string_view section) const;
  const std::vector<CrossCheck>& checks() const { return checks_; }
  const std::vector<OptionList>& option_lists() const { return option_lists_; }
  // The option list whose tables section is `section`, or nullptr.
  const OptionList* option_list_of(std::string_view section) const;
  // A key inside an option list's copy (`layer_variant.local.window`) documented as its group's
  // key (`variant.window`) under its own name; nothing for any other key.
  std::optional<KeyDoc> find_copied(std::string_view key) const;
  // Sections in declaration order: those of declared keys first (in key order), each group's
  // option-list tables right after it, then groups and free sections that have no declared keys.
  // Top-level keys have no section and are not listed.
  std::vector<std::string> sections() const;
  // Up to `count` declared keys closest to `key` by edit distance (for "did you mean").
  std::vector<std::string> nearest(std::string_view key, std::size_t count = 3) const;
  // `attnlab config doc`: every key grouped by section with type, default, constraint and doc.
  std::string document() const;

 private:
  std::vector<KeyDoc> keys_;
  std::vector<std::string> groups_;
  std::vector<std::string> free_sections_;
  std::vector<CrossCheck> checks_;
  std::vector<OptionList> option_lists_;
};

// A resolved, validated configuration: every declared key has a value of its declared type.
class Config {
 public:
  Config() = default;
  explicit Config(toml::table table) : table_(std::move(table)) {}
  // compose() passes the schema's declaration order (sections, then dotted keys) so to_toml()
  // prints keys as documented. Keys not listed (free-section additions) follow their section's
  // declared keys in sorted order; unlisted sections come last, sorted.
  Config(toml::table table, std::vector<std::string> section_order,
         std::vector<std::string> key_order)
      : table_(std::move(table)),
        section_order_(std::move(section_order)),
        key_order_(std::move(key_order)) {}

  bool has(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  std::int64_t get_int(std::string_view key) const;
  double get_float(std::string_view key) const;  // accepts ints too
  std::string get_string(std::string_view key) const;
  std::vector<std::int64_t> get_int_list(std::string_view key) const;
  std::vector<double> get_float_list(std::string_view key) const;
  std::vector<std::string> get_string_list(std::string_view key) const;

  // The resolved config as TOML text: sections in schema order, loadable by `--config` to
  // reproduce the run exactly (no defaults list: everything is already expanded).
  std::string to_toml() const;
  // 16 hex digits of FNV-1a 64 over to_toml() without its header comment (for run directory
  // names): equal configs hash equal however they were composed.
  std::string hash() const;
  const toml::table& table() const { return table_; }
  // A copy with one declared int key set to `value` (e.g. the task at another task.length).
  Config with_int(std::string_view key, std::int64_t value) const;
  Config with_string(std::string_view key, const std::string& value) const;  // likewise

 private:
  toml::table table_;
  std::vector<std::string> section_order_;
  std::vector<std::string> key_order_;
};

// One parsed command-line override (Hydra grammar):
//   key=value      set a declared key, or pick a group option (`variant=rope`)
//   +key=value     add a key that does not exist yet (free sections), or a group to the defaults
//   ++key=value    add or override
//   ~key, ~key=v   delete a key (a declared key goes back to its code default) or a group
// Values: int, float (1e-3, .5, inf), bool (true/false), null, quoted strings ('a b', "a,b"),
// bare strings, lists [1,2,3] (nested quoting allowed).
struct Override {
  enum class Kind { Set, Add, ForceAdd, Delete };
  Kind kind = Kind::Set;
  std::string key;
  std::optional<std::string> raw_value;  // as typed; absent for `~key`
  std::string text;                      // the whole override, for messages
};

// Throws ConfigError "malformed override 'text': <what> at column N" on bad syntax.
Override parse_override(std::string_view text);

// Parses the value part of an override into a TOML node of the type the schema declares
// (ints are accepted for floats; bare words for strings). Throws ConfigError naming the key.
std::unique_ptr<toml::node> parse_value(std::string_view raw, const KeyDoc& doc);

struct ComposeRequest {
  std::filesystem::path config_file;           // e.g. configs/experiment.toml or <run>/config.toml
  std::vector<std::filesystem::path> search_dirs;  // where `<group>/<option>.toml` are looked up,
                                                   // in order (the config file's dir comes first)
  std::vector<std::string> overrides;
};

// Code defaults -> defaults list entries in order (after group overrides) -> the file's own keys
// -> key=value overrides -> each option list's copies: the option files it names, unless the
// config file holds that table already (a saved config.toml, or a table written inline), then
// the overrides of keys in those tables -> type, range and cross-key validation. Tables the lists
// do not name are dropped. Throws ConfigError.
Config compose(const Schema& schema, const ComposeRequest& request);

// Names of the options of a group found in the search dirs (for "valid options are ...").
std::vector<std::string> group_options(const std::vector<std::filesystem::path>& search_dirs,
                                       std::string_view group);

}  // namespace attnlab::config
