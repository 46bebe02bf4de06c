// Shared by the variant tests: option sets sized for small tensors and the list of valid
// combinations of the registered parts.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "variants/attention_variant.h"

namespace attnlab::variants::testing {

// Every declared option at its default, then the chosen parts and small sizes, so that a handful
// of positions already spans several windows, strides, blocks and chunks.
inline VariantOptions small_options(const std::string& score, const std::string& position,
                                    const std::string& pattern) {
  VariantOptions options;
  for (const auto& spec : all_option_specs()) options.set(spec.name, spec.default_value);
  options.set("score", score);
  options.set("position", position);
  options.set("pattern", pattern);
  options.set("chunk", std::int64_t{4});
  options.set("materialise_max", std::int64_t{0});  // beyond one tile: the chunked path
  options.set("additive_hidden", std::int64_t{5});
  options.set("window", std::int64_t{3});
  options.set("stride", std::int64_t{3});
  options.set("block", std::int64_t{4});
  options.set("global_blocks", std::int64_t{1});
  options.set("random_blocks", std::int64_t{1});
  options.set("topk", std::int64_t{5});
  return options;
}

struct Combination {
  std::string score, position, pattern;
  bool causal;
  std::string name() const {
    return score + "+" + position + "+" + pattern + (causal ? " causal" : " bidirectional");
  }
};

// Every combination of registered parts that validate() accepts, in both directions.
inline std::vector<Combination> valid_combinations() {
  std::vector<Combination> all;
  for (const auto* score : score_registry().entries()) {
    for (const auto* position : position_registry().entries()) {
      for (const auto* pattern : pattern_registry().entries()) {
        try {
          validate(small_options(score->name, position->name, pattern->name));
        } catch (const std::invalid_argument&) {
          continue;  // rejected combinations are tested separately
        }
        for (bool causal : {true, false}) {
          all.push_back({score->name, position->name, pattern->name, causal});
        }
      }
    }
  }
  return all;
}

}  // namespace attnlab::variants::testing
