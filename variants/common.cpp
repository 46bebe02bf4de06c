#include "variants/parts.h"

namespace attnlab::variants {

const OptionValue& VariantOptions::at(const std::string& name) const {
  auto found = values_.find(name);
  if (found == values_.end()) throw VariantError("variant." + name + ": option not set");
  return found->second;
}

std::int64_t VariantOptions::get_int(const std::string& name) const {
  return std::get<std::int64_t>(at(name));
}

double VariantOptions::get_float(const std::string& name) const {
  const OptionValue& value = at(name);
  if (const auto* integer = std::get_if<std::int64_t>(&value)) return static_cast<double>(*integer);
  return std::get<double>(value);
}

bool VariantOptions::get_bool(const std::string& name) const { return std::get<bool>(at(name)); }

const std::string& VariantOptions::get_string(const std::string& name) const {
  return std::get<std::string>(at(name));
}

torch::Tensor relative_positions(std::int64_t query_length, std::int64_t key_length) {
  const std::int64_t offset = key_length - query_length;
  auto query_positions = torch::arange(offset, offset + query_length, torch::kLong).unsqueeze(1);
  auto key_positions = torch::arange(key_length, torch::kLong).unsqueeze(0);
  return key_positions - query_positions;  // [Tq, Tk]
}

torch::Tensor causal_allowed(std::int64_t query_length, std::int64_t key_length) {
  return relative_positions(query_length, key_length).le(0);
}

}  // namespace attnlab::variants
