#include "experiments/sweep/sweep_grammar.h"

#include <fnmatch.h>

#include <cmath>
#include <cstdlib>
#include <set>

#include <fmt/format.h>

#include "experiments/config/config.h"

namespace attnlab::sweep {
namespace {

// Beyond this many values (one parameter) or jobs (the product) a sweep is a typo, not a plan.
constexpr long long kMaxValues = 100000;

[[noreturn]] void fail(const std::string& text, std::size_t column, const std::string& what) {
  throw config::ConfigError(fmt::format("sweep parameter '{}': {} at column {}\n  {}\n  {}^", text,
                                        what, column + 1, text, std::string(column, ' ')));
}

// Splits `body` (starting at `offset` in `text`, for columns) at top-level commas: commas inside
// quotes, brackets or parentheses do not split. Items are trimmed; an empty item is an error.
std::vector<std::string> split_items(const std::string& text, const std::string& body,
                                     std::size_t offset) {
  std::vector<std::string> items;
  std::string current;
  int depth = 0;
  char quote = 0;
  std::size_t item_start = 0;
  const auto finish = [&](std::size_t at) {
    const auto first = current.find_first_not_of(' ');
    if (first == std::string::npos) fail(text, offset + at, "empty value");
    items.push_back(current.substr(first, current.find_last_not_of(' ') - first + 1));
    current.clear();
  };
  for (std::size_t index = 0; index < body.size(); ++index) {
    const char c = body[index];
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '[' || c == '(') {
      ++depth;
    } else if (c == ']' || c == ')') {
      if (--depth < 0) fail(text, offset + index, fmt::format("unbalanced '{}'", c));
    } else if (c == ',' && depth == 0) {
      finish(index);
      item_start = index + 1;
      continue;
    }
    current += c;
  }
  if (quote != 0) fail(text, offset + body.size(), "unterminated quote");
  if (depth != 0) fail(text, offset + body.size(), "unclosed bracket");
  finish(item_start < body.size() ? body.size() : item_start);
  return items;
}

// A number of range(): an integer, or a float when it has '.', 'e' or 'E'.
double parse_number(const std::string& text, const std::string& item, std::size_t column,
                    bool& is_float) {
  char* end = nullptr;
  const double value = std::strtod(item.c_str(), &end);
  if (item.empty() || *end != '\0' || !std::isfinite(value)) {
    fail(text, column, "range() takes numbers, not '" + item + "'");
  }
  if (item.find_first_of(".eE") != std::string::npos) is_float = true;
  return value;
}

std::vector<std::string> range_values(const std::string& text, const std::vector<std::string>& args,
                                      std::size_t column) {
  if (args.empty() || args.size() > 3) fail(text, column, "range() takes 1 to 3 arguments");
  bool is_float = false;
  std::vector<double> numbers;
  for (const auto& arg : args) numbers.push_back(parse_number(text, arg, column, is_float));
  double start = 0, stop = numbers[0], step = 1;
  if (numbers.size() >= 2) start = numbers[0], stop = numbers[1];
  if (numbers.size() == 3) step = numbers[2];
  if (step == 0) fail(text, column, "range() step must not be 0");
  std::vector<std::string> values;
  // Counted, not accumulated, so 0.1 steps do not drift; the count is checked before it becomes
  // an integer (range(0,1e300) must be an error, not undefined behaviour).
  const double steps = std::ceil((stop - start) / step - 1e-9);
  if (steps > static_cast<double>(kMaxValues)) {
    fail(text, column, "range() makes more than " + std::to_string(kMaxValues) + " values");
  }
  const auto count = static_cast<long long>(std::max(0.0, steps));
  for (long long index = 0; index < count; ++index) {
    const double value = start + static_cast<double>(index) * step;
    // 12 significant digits: 0.1 * 3 prints 0.3, not 0.30000000000000004.
    values.push_back(is_float ? fmt::format("{:.12g}", value)
                              : std::to_string(static_cast<long long>(std::llround(value))));
  }
  if (values.empty()) fail(text, column, "range() is empty");
  return values;
}

}  // namespace

SweepParameter parse_parameter(const std::string& text, const GroupOptions& group_options) {
  const auto equals = text.find('=');
  if (equals == std::string::npos) fail(text, text.size(), "expected key=value");
  SweepParameter parameter;
  parameter.text = text;
  parameter.key = text.substr(0, equals);
  // A key of prefixes only (`+=`, `++=`) is no key: glob() below looks past the prefixes.
  if (parameter.key.find_first_not_of('+') == std::string::npos ||
      parameter.key.find_first_of(" \t") != std::string::npos) {
    fail(text, 0, "expected a key before '='");
  }
  if (parameter.key[0] == '~') fail(text, 0, "a deletion (~key) cannot be swept");
  const std::string value = text.substr(equals + 1);
  const std::size_t value_column = equals + 1;
  if (value.empty()) fail(text, value_column, "expected a value after '='");

  // A function call: name(args) spanning the whole value.
  const auto open = value.find('(');
  const std::string name = open == std::string::npos ? "" : value.substr(0, open);
  if ((name == "range" || name == "choice" || name == "glob") && value.back() == ')') {
    const std::string body = value.substr(open + 1, value.size() - open - 2);
    const auto args_column = value_column + open + 1;
    if (body.find_first_not_of(' ') == std::string::npos) fail(text, args_column, name + "() is empty");
    const auto args = split_items(text, body, args_column);
    if (name == "range") {
      parameter.values = range_values(text, args, args_column);
    } else if (name == "choice") {
      parameter.values = args;
    } else {
      const std::string group = parameter.key.substr(parameter.key.find_first_not_of('+'));
      const auto options = group_options(group);
      if (options.empty()) fail(text, 0, "glob() needs a config group; '" + group + "' has no options");
      std::set<std::string> matched;
      for (const auto& option : options) {
        for (const auto& pattern : args) {
          if (fnmatch(pattern.c_str(), option.c_str(), 0) == 0) matched.insert(option);
        }
      }
      if (matched.empty()) fail(text, args_column, "glob() matches none of the options of " + group);
      parameter.values.assign(matched.begin(), matched.end());
    }
    return parameter;
  }
  parameter.values = split_items(text, value, value_column);
  return parameter;
}

std::vector<std::vector<std::string>> expand(const std::vector<SweepParameter>& parameters) {
  double product = 1;
  std::string factors;
  for (const auto& parameter : parameters) {
    product *= static_cast<double>(parameter.values.size());
    factors += (factors.empty() ? "" : " x ") + std::to_string(parameter.values.size());
  }
  if (product > static_cast<double>(kMaxValues)) {
    throw config::ConfigError(fmt::format("the sweep has {} jobs ({}), more than {}", product,
                                          factors, kMaxValues));
  }
  std::vector<std::vector<std::string>> jobs = {{}};
  for (const auto& parameter : parameters) {
    std::vector<std::vector<std::string>> next;
    for (const auto& job : jobs) {
      for (const auto& value : parameter.values) {
        auto extended = job;
        extended.push_back(parameter.key + "=" + value);
        next.push_back(std::move(extended));
      }
    }
    jobs = std::move(next);
  }
  return jobs;
}

}  // namespace attnlab::sweep
