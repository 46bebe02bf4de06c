// Rendering values as TOML text (exact float round trip) and describing them in messages.
// Internal to the config library.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "config.h"

namespace attnlab::config::detail {

using NodePtr = std::unique_ptr<toml::node>;

// A TOML basic string: double quotes, escaped.
std::string quote_string(std::string_view text);
// A bare key segment when possible, otherwise a quoted one.
std::string format_key_segment(std::string_view segment);

// TOML text of a value; arrays and tables inline. Floats get the shortest text that parses back
// to the same double and still reads as a TOML float ("0.001", "3e-4", "1.0", "inf", "nan").
std::string format_node(const toml::node& node);
std::string format_value(const Value& value);
// Like format_node but floats without a forced ".0" ("-1" rather than "-1.0"), for messages.
std::string display_node(const toml::node& node);
// "int", "float", "string", "bool", "array", "table", "date", ...
std::string_view node_type_name(const toml::node& node);
// What a file or override supplied, for "found ..." messages: `string "abc"`, `int 3`, `a table`.
std::string describe_node(const toml::node& node);

NodePtr node_from_value(const Value& value);

// The value of an int or float node as a double (ints of any size, unlike node::value<double>,
// which refuses ints it cannot represent exactly); nothing for other nodes.
std::optional<double> number_of(const toml::node& node);

}  // namespace attnlab::config::detail
