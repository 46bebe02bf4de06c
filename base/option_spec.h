// A declared option of a registered part (a variant's score, position scheme or pattern, a task):
// name, default, doc and range. The experiment layer turns these declarations into config keys, so
// a new part's options need no edit outside its own file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace attnlab {

using OptionValue = std::variant<bool, std::int64_t, double, std::string>;

struct OptionSpec {
  std::string name;  // key under the part's config section: "window" for variant.window
  OptionValue default_value;
  std::string doc;
  std::optional<double> min;  // inclusive unless min_exclusive
  bool min_exclusive = false;
  std::optional<double> max;
  std::vector<std::string> choices;  // for string options
};

}  // namespace attnlab
