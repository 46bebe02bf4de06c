#include "analysis/heads/map_metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "analysis/heads/head_thresholds.h"

namespace attnlab::heads {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Numerator and denominator of one TransformerLens "mul" score over one map.
struct MulScore {
  double matched = 0, total = 0;
  void add(double weight, bool in_pattern) {
    total += weight;
    if (in_pattern) matched += weight;
  }
};

}  // namespace

double HeadAccumulator::Mean::value() const {
  return count == 0 ? kNaN : sum / static_cast<double>(count);
}

HeadAccumulator::HeadAccumulator(std::int64_t query_length, std::int64_t key_length, bool causal)
    : query_length_(query_length),
      key_length_(key_length),
      causal_(causal),
      offsets_(static_cast<std::size_t>(2 * kMaxOffset + 1)),
      alpha_(static_cast<std::size_t>(key_length)),
      row_offsets_(static_cast<std::size_t>(2 * kMaxOffset + 1)) {}

void HeadAccumulator::add(const float* map, const std::int32_t* allowed_keys,
                          const std::int64_t* tokens) {
  const bool with_tokens = tokens != nullptr && query_length_ == key_length_;
  MulScore previous, previous_excl, next, next_excl, self, duplicate, duplicate_excl, induction,
      induction_excl;
  for (std::int64_t i = 0; i < query_length_; ++i) {
    if (allowed_keys[i] < 1) continue;
    const float* row = map + i * key_length_;
    const std::int64_t position = i + key_length_ - query_length_;  // p_i
    ++valid_queries_;
    double entropy = 0, distance = 0, local = 0, max_weight = -1;
    std::int64_t argmax = 0;
    double duplicate_mass = 0, induction_mass = 0;
    bool has_duplicate = false, has_induction = false;
    for (std::int64_t j = 0; j < key_length_; ++j) {
      const double weight = row[j];
      if (weight > 0) entropy -= weight * std::log(weight);
      const std::int64_t offset = position - j;
      distance += weight * static_cast<double>(std::llabs(offset));
      if (std::llabs(offset) <= kLocalWindow) local += weight;
      if (weight > max_weight) max_weight = weight, argmax = j;
      // TransformerLens's exclusions zero column 0 (BOS) and the current token's column.
      const double excluded = (j == 0 || j == position) ? 0.0 : weight;
      previous.add(weight, offset == 1);
      previous_excl.add(excluded, offset == 1);
      next.add(weight, offset == -1);
      next_excl.add(excluded, offset == -1);
      self.add(weight, offset == 0);
      if (with_tokens) {
        const bool is_duplicate = j < i && tokens[j] == tokens[i];
        const bool is_induction = j >= 1 && j <= i && tokens[j - 1] == tokens[i];
        duplicate.add(weight, is_duplicate);
        duplicate_excl.add(excluded, is_duplicate);
        induction.add(weight, is_induction);
        induction_excl.add(excluded, is_induction);
        if (is_duplicate) has_duplicate = true, duplicate_mass += weight;
        if (is_induction) has_induction = true, induction_mass += weight;
      }
      // α_k averages over the queries that may see key k: i >= k when causal (Gu et al.).
      if (!causal_ || j <= position) alpha_[static_cast<std::size_t>(j)].add(weight);
    }
    entropy_.add(entropy);
    if (allowed_keys[i] > 1) entropy_normalised_.add(entropy / std::log(allowed_keys[i]));
    max_weight_.add(max_weight);
    distance_.add(distance);
    local_mass_.add(local);
    sink_.add(row[0]);
    ++argmax_offsets_[position - argmax];
    for (std::int64_t delta = -kMaxOffset; delta <= kMaxOffset; ++delta) {
      const std::int64_t key = position - delta;
      const auto index = static_cast<std::size_t>(delta + kMaxOffset);
      row_offsets_[index] = 0;
      if (key >= 0 && key < key_length_) {
        offsets_[index].add(row[key]);
        row_offsets_[index] = row[key];
      }
    }
    if (with_tokens) context_.add(tokens[i], entropy, max_weight, row_offsets_);
    if (has_duplicate) duplicate_matching_.add(duplicate_mass);
    if (has_induction) prefix_matching_.add(induction_mass);
  }
  // One score per sample (TransformerLens scores one sequence at a time); a sample whose
  // denominator is zero has no score.
  const auto add_score = [](Mean& mean, const MulScore& score) {
    if (score.total > 0) mean.add(score.matched / score.total);
  };
  add_score(previous_, previous);
  add_score(previous_excl_, previous_excl);
  add_score(next_, next);
  add_score(next_excl_, next_excl);
  add_score(self_, self);
  if (with_tokens) {
    add_score(duplicate_, duplicate);
    add_score(duplicate_excl_, duplicate_excl);
    add_score(induction_, induction);
    add_score(induction_excl_, induction_excl);
  }
}

MapMetrics HeadAccumulator::finish() const {
  MapMetrics metrics;
  metrics.entropy = entropy_.value();
  metrics.entropy_normalised = entropy_normalised_.value();
  metrics.max_weight = max_weight_.value();
  metrics.distance = distance_.value();
  for (const auto& offset : offsets_) metrics.offsets.push_back(offset.value());
  metrics.local_mass = local_mass_.value();
  metrics.positional_fraction = kNaN;
  metrics.positional_offset = kNaN;
  if (valid_queries_ > 0) {
    const auto mode =
        std::max_element(argmax_offsets_.begin(), argmax_offsets_.end(),
                         [](const auto& a, const auto& b) { return a.second < b.second; });
    metrics.positional_fraction =
        static_cast<double>(mode->second) / static_cast<double>(valid_queries_);
    metrics.positional_offset = static_cast<double>(mode->first);
  }
  metrics.previous_score = previous_.value();
  metrics.previous_score_excl = previous_excl_.value();
  metrics.next_score = next_.value();
  metrics.next_score_excl = next_excl_.value();
  metrics.self_score = self_.value();
  metrics.duplicate_score = duplicate_.value();
  metrics.duplicate_score_excl = duplicate_excl_.value();
  metrics.induction_score = induction_.value();
  metrics.induction_score_excl = induction_excl_.value();
  metrics.prefix_matching = prefix_matching_.value();
  metrics.duplicate_matching = duplicate_matching_.value();
  metrics.sink_score = sink_.value();
  metrics.context = context_.finish();
  metrics.sink_alpha_0 = alpha_.empty() ? kNaN : alpha_.front().value();
  metrics.sink_alpha_max = kNaN;
  metrics.sink_alpha_key = kNaN;
  for (std::size_t key = 0; key < alpha_.size(); ++key) {
    const auto& alpha = alpha_[key];
    if (static_cast<double>(alpha.count) <
        kSinkMinimumQueryFraction * static_cast<double>(valid_queries_)) {
      continue;
    }
    if (std::isnan(metrics.sink_alpha_max) || alpha.value() > metrics.sink_alpha_max) {
      metrics.sink_alpha_max = alpha.value();
      metrics.sink_alpha_key = static_cast<double>(key);
    }
  }
  return metrics;
}

std::vector<std::pair<std::string, double>> MapMetrics::named() const {
  std::vector<std::pair<std::string, double>> values = {
      {"map_entropy", entropy},
      {"map_entropy_normalised", entropy_normalised},
      {"max_weight", max_weight},
      {"map_distance", distance},
  };
  for (std::int64_t delta = -kMaxOffset; delta <= kMaxOffset; ++delta) {
    values.emplace_back("offset_" + std::to_string(delta),
                        offsets[static_cast<std::size_t>(delta + kMaxOffset)]);
  }
  const std::vector<std::pair<std::string, double>> rest = {
      {"local_mass", local_mass},
      {"positional_fraction", positional_fraction},
      {"positional_offset", positional_offset},
      {"previous_score", previous_score},
      {"previous_score_excl", previous_score_excl},
      {"next_score", next_score},
      {"next_score_excl", next_score_excl},
      {"self_score", self_score},
      {"duplicate_score", duplicate_score},
      {"duplicate_score_excl", duplicate_score_excl},
      {"induction_score", induction_score},
      {"induction_score_excl", induction_score_excl},
      {"duplicate_matching", duplicate_matching},
      {"prefix_matching", prefix_matching},
      {"sink_score", sink_score},
      {"sink_alpha_0", sink_alpha_0},
      {"sink_alpha_max", sink_alpha_max},
      {"sink_alpha_key", sink_alpha_key},
      {"context_entropy_spread", context.entropy_spread},
      {"context_entropy_overall", context.entropy_overall},
      {"context_max_weight_spread", context.max_weight_spread},
      {"context_max_weight_overall", context.max_weight_overall},
      {"context_offset_spread", context.offset_spread},
      {"context_offset_overall", context.offset_overall},
      {"context_repeated_types", static_cast<double>(context.repeated_types)},
  };
  values.insert(values.end(), rest.begin(), rest.end());
  return values;
}

std::vector<std::string> MapMetrics::names() {
  MapMetrics empty;
  empty.offsets.resize(static_cast<std::size_t>(2 * kMaxOffset + 1));
  std::vector<std::string> result;
  for (const auto& [name, value] : empty.named()) result.push_back(name);
  return result;
}

}  // namespace attnlab::heads
