// Shared by the variant tests: option sets sized for small tensors and the lists of valid
// combinations of the registered parts.
#pragma once

#include <cmath>
#include <functional>
#include <limits>
#include <sstream>
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
  options.set("t5_buckets", std::int64_t{8});  // a few exact buckets, then logarithmic ones
  options.set("t5_max_distance", std::int64_t{12});
  return options;
}

// One part per stage (parts.h), the key/value heads and the soft-cap; the stages around the map
// default to plain softmax attention.
struct Combination {
  std::string score, position, pattern;
  bool causal;
  std::string qk_norm = "none", normaliser = "softmax", mixer = "single", gate = "none";
  std::int64_t kv_heads = 0;  // 0: one per query head
  double softcap = std::numeric_limits<double>::infinity();
  std::string feature_map = "elu1";  // read by the kernel score only
  bool linear_denominator = true;    // read by the linear normaliser only

  VariantOptions options() const {
    auto options = small_options(score, position, pattern);
    options.set("qk_norm", qk_norm);
    options.set("normaliser", normaliser);
    options.set("mixer", mixer);
    options.set("gate", gate);
    options.set("kv_heads", kv_heads);
    options.set("softcap", softcap);
    options.set("feature_map", feature_map);
    options.set("linear_denominator", linear_denominator);
    return options;
  }

  // "scaled+rope+local causal", then each stage away from its default ("normaliser=sink").
  std::string name() const {
    std::ostringstream out;
    out << score << "+" << position << "+" << pattern << (causal ? " causal" : " bidirectional");
    if (qk_norm != "none") out << " qk_norm=" << qk_norm;
    if (normaliser != "softmax") out << " normaliser=" << normaliser;
    if (mixer != "single") out << " mixer=" << mixer;
    if (gate != "none") out << " gate=" << gate;
    if (kv_heads != 0) out << " kv_heads=" << kv_heads;
    if (std::isfinite(softcap)) out << " softcap=" << softcap;
    if (score == "kernel") out << " feature_map=" << feature_map;
    if (!linear_denominator) out << " no denominator";
    return out.str();
  }
};

inline bool accepted(const Combination& combination) {
  try {
    validate(combination.options());
  } catch (const std::invalid_argument&) {
    return false;  // rejected combinations are tested separately
  }
  return true;
}

// Every combination of registered scores, positions and patterns that validate() accepts, in
// both directions, with the other stages at their defaults.
inline std::vector<Combination> valid_combinations() {
  std::vector<Combination> all;
  for (const auto* score : score_registry().entries()) {
    for (const auto* position : position_registry().entries()) {
      for (const auto* pattern : pattern_registry().entries()) {
        for (bool causal : {true, false}) {
          Combination combination{score->name, position->name, pattern->name, causal};
          if (accepted(combination)) all.push_back(combination);
        }
      }
    }
  }
  return all;
}

// The registered parts of a stage other than `default_part`.
template <typename RegistryType>
std::vector<std::string> other_parts(const RegistryType& registry,
                                     const std::string& default_part) {
  std::vector<std::string> names;
  for (const auto* entry : registry.entries()) {
    if (entry->name != default_part) names.push_back(entry->name);
  }
  return names;
}

// Ways to move one Combination away from plain softmax attention: every registered part of the
// QK-norm, normaliser, mixer and gate stages other than the default, shared key/value heads
// (1 and 2: the tests use 4 query heads or 2) and a soft-cap.
inline std::vector<std::function<void(Combination&)>> stage_changes() {
  std::vector<std::function<void(Combination&)>> changes;
  const auto add_parts = [&](const std::vector<std::string>& names,
                             std::string Combination::*field) {
    for (const auto& name : names) changes.push_back([=](Combination& c) { c.*field = name; });
  };
  add_parts(other_parts(qk_norm_registry(), "none"), &Combination::qk_norm);
  add_parts(other_parts(normaliser_registry(), "softmax"), &Combination::normaliser);
  add_parts(other_parts(mixer_registry(), "single"), &Combination::mixer);
  add_parts(other_parts(gate_registry(), "none"), &Combination::gate);
  for (const std::int64_t kv_heads : {1, 2}) {
    changes.push_back([=](Combination& c) { c.kv_heads = kv_heads; });
  }
  changes.push_back([](Combination& c) { c.softcap = 2.0; });  // scores of a few units: tanh bends
  return changes;
}

// Each stage change on a handful of scores, positions and patterns in both directions, then every
// normaliser and mixer with a QK-norm, a gate, two key/value heads and a soft-cap at once: each new
// part is covered without the product of all stages. Only what validate() accepts.
inline std::vector<Combination> stage_combinations() {
  const std::vector<Combination> bases = {{"scaled", "none", "full", true},
                                          {"dot", "rope", "local", true},
                                          {"additive", "alibi", "strided", true},
                                          {"scaled", "t5", "topk", true},
                                          {"scaled", "alibi", "bigbird", true}};
  std::vector<Combination> all;
  for (const auto& change : stage_changes()) {
    for (auto combination : bases) {
      change(combination);
      for (bool causal : {true, false}) {
        combination.causal = causal;
        if (accepted(combination)) all.push_back(combination);
      }
    }
  }
  const auto qk_norms = other_parts(qk_norm_registry(), "none");
  const auto gates = other_parts(gate_registry(), "none");
  std::size_t index = 0;
  for (const auto* normaliser : normaliser_registry().entries()) {
    for (const auto* mixer : mixer_registry().entries()) {
      Combination combination = index % 2 == 0 ? Combination{"dot", "rope", "local", true}
                                               : Combination{"scaled", "alibi", "full", false};
      combination.qk_norm = qk_norms[index % qk_norms.size()];
      combination.gate = gates[index % gates.size()];
      combination.normaliser = normaliser->name;
      combination.mixer = mixer->name;
      combination.kv_heads = 2;
      combination.softcap = 2.0;
      ++index;
      if (accepted(combination)) all.push_back(combination);
    }
  }
  return all;
}

// Linear (kernel) attention: every feature map over the full pattern in both directions, one
// over a local pattern (the plain path only), and the stages around the map: without the
// denominator, with shared key/value heads, a QK-norm, a gate and differential attention's maps.
inline std::vector<Combination> kernel_combinations() {
  std::vector<Combination> all;
  const auto kernel = [](const std::string& feature_map, const std::string& pattern, bool causal) {
    Combination combination{"kernel", "none", pattern, causal};
    combination.normaliser = "linear";
    combination.feature_map = feature_map;
    return combination;
  };
  for (const auto* feature_map : feature_map_registry().entries()) {
    for (bool causal : {true, false}) all.push_back(kernel(feature_map->name, "full", causal));
  }
  all.push_back(kernel("elu1", "local", true));
  for (bool causal : {true, false}) {
    auto combination = kernel("cosformer", "full", causal);
    combination.linear_denominator = false;
    combination.kv_heads = 2;
    all.push_back(combination);
    combination = kernel("taylor", "full", causal);
    combination.qk_norm = "rms";
    combination.gate = "element";
    combination.kv_heads = 1;
    all.push_back(combination);
  }
  auto differential = kernel("elu1", "full", true);
  differential.mixer = "differential";
  all.push_back(differential);
  return all;
}

// valid_combinations(), then stage_combinations(), then kernel_combinations().
inline std::vector<Combination> all_combinations() {
  auto all = valid_combinations();
  for (const auto& more : {stage_combinations(), kernel_combinations()}) {
    all.insert(all.end(), more.begin(), more.end());
  }
  return all;
}

}  // namespace attnlab::variants::testing
