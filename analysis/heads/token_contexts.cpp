#include "analysis/heads/token_contexts.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <stdexcept>

#include "analysis/heads/analysed_map.h"

namespace attnlab::heads {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using Distribution = std::map<std::int64_t, double>;  // outcome -> weight (any total)

// Jensen-Shannon distance, base 2, of two weightings normalised to distributions.
double js_distance(const Distribution& first, const Distribution& second) {
  const auto total = [](const Distribution& weights) {
    double sum = 0;
    for (const auto& [outcome, weight] : weights) sum += weight;
    return sum;
  };
  const double first_total = total(first), second_total = total(second);
  if (!(first_total > 0) || !(second_total > 0)) return kNaN;
  Distribution mixture;
  for (const auto& [outcome, weight] : first) mixture[outcome] += 0.5 * weight / first_total;
  for (const auto& [outcome, weight] : second) mixture[outcome] += 0.5 * weight / second_total;
  const auto kl_to_mixture = [&mixture](const Distribution& weights, double sum) {
    double kl = 0;
    for (const auto& [outcome, weight] : weights) {
      const double p = weight / sum;
      if (p > 0) kl += p * std::log2(p / mixture.at(outcome));
    }
    return kl;
  };
  const double js = 0.5 * kl_to_mixture(first, first_total) + 0.5 * kl_to_mixture(second, second_total);
  return std::sqrt(std::max(0.0, js));
}

Distribution by_offset(const std::vector<float>& row, std::int64_t position) {
  Distribution weights;
  for (std::size_t key = 0; key < row.size(); ++key) {
    if (row[key] > 0) weights[position - static_cast<std::int64_t>(key)] += row[key];
  }
  return weights;
}

Distribution by_key_token(const std::vector<float>& row, const std::int64_t* keys) {
  Distribution weights;
  for (std::size_t key = 0; key < row.size(); ++key) {
    if (row[key] > 0) weights[keys[key]] += row[key];
  }
  return weights;
}

std::vector<AttendedKey> strongest_keys(const std::vector<float>& row, const std::int64_t* keys,
                                        std::int64_t count) {
  std::vector<std::int64_t> order(row.size());
  std::iota(order.begin(), order.end(), std::int64_t{0});
  const auto kept = std::min<std::int64_t>(count, static_cast<std::int64_t>(row.size()));
  std::partial_sort(order.begin(), order.begin() + kept, order.end(),
                    [&row](std::int64_t a, std::int64_t b) {
                      return row[static_cast<std::size_t>(a)] > row[static_cast<std::size_t>(b)];
                    });
  std::vector<AttendedKey> top;
  for (std::int64_t rank = 0; rank < kept; ++rank) {
    const auto key = order[static_cast<std::size_t>(rank)];
    const double weight = row[static_cast<std::size_t>(key)];
    if (weight > 0) top.push_back({key, keys[key], weight});
  }
  return top;
}

// Mean and largest distance over the pairs of occurrences, and the pair furthest apart by token.
void contrast(HeadContrast& head, const std::vector<Occurrence>& occurrences,
              const dump::Array<std::int64_t>& tokens) {
  const auto length = tokens.shape.at(1);
  double position_sum = 0, token_sum = 0;
  std::int64_t position_pairs = 0, token_pairs = 0;
  head.max_by_token = kNaN;
  for (std::size_t a = 0; a < head.rows.size(); ++a) {
    for (std::size_t b = a + 1; b < head.rows.size(); ++b) {
      const auto& first = occurrences[a];
      const auto& second = occurrences[b];
      const double position = distance_by_position(head.rows[a].weights, first.position,
                                                    head.rows[b].weights, second.position);
      const double token = distance_by_token(head.rows[a].weights, head.rows[b].weights,
                                             tokens.values.data() + first.sample * length,
                                             tokens.values.data() + second.sample * length);
      if (!std::isnan(position)) position_sum += position, ++position_pairs;
      if (std::isnan(token)) continue;
      token_sum += token, ++token_pairs;
      if (std::isnan(head.max_by_token) || token > head.max_by_token) {
        head.max_by_token = token;
        head.first = static_cast<std::int64_t>(a);
        head.second = static_cast<std::int64_t>(b);
      }
    }
  }
  head.by_position = position_pairs > 0 ? position_sum / static_cast<double>(position_pairs) : kNaN;
  head.by_token = token_pairs > 0 ? token_sum / static_cast<double>(token_pairs) : kNaN;
}

// NaN last; then by attended token, then by position, largest first.
bool ranks_before(const HeadContrast& a, const HeadContrast& b) {
  const auto key = [](double value) { return std::isnan(value) ? -1.0 : value; };
  if (key(a.by_token) != key(b.by_token)) return key(a.by_token) > key(b.by_token);
  return key(a.by_position) > key(b.by_position);
}

}  // namespace

std::vector<Occurrence> find_occurrences(const dump::Array<std::int64_t>& tokens,
                                         const std::vector<std::int64_t>& lengths,
                                         std::int64_t token) {
  std::vector<Occurrence> found;
  const auto length = tokens.shape.at(1);
  for (std::int64_t sample = 0; sample < tokens.shape.at(0); ++sample) {
    const auto used = std::min(length, lengths.at(static_cast<std::size_t>(sample)));
    for (std::int64_t position = 0; position < used; ++position) {
      if (tokens.values[static_cast<std::size_t>(sample * length + position)] == token) {
        found.push_back({sample, position});
      }
    }
  }
  return found;
}

std::vector<Occurrence> occurrences_at(const std::vector<std::int64_t>& lengths,
                                       std::int64_t position) {
  std::vector<Occurrence> found;
  for (std::size_t sample = 0; sample < lengths.size(); ++sample) {
    if (position >= 0 && position < lengths[sample]) {
      found.push_back({static_cast<std::int64_t>(sample), position});
    }
  }
  return found;
}

double distance_by_position(const std::vector<float>& first, std::int64_t first_position,
                            const std::vector<float>& second, std::int64_t second_position) {
  return js_distance(by_offset(first, first_position), by_offset(second, second_position));
}

double distance_by_token(const std::vector<float>& first, const std::vector<float>& second,
                         const std::int64_t* first_keys, const std::int64_t* second_keys) {
  return js_distance(by_key_token(first, first_keys), by_key_token(second, second_keys));
}

TokenContexts token_contexts(const dump::DumpReader& reader,
                             const std::vector<Occurrence>& occurrences, std::int64_t top_keys) {
  if (occurrences.size() < 2) {
    throw std::invalid_argument("the token occurs " + std::to_string(occurrences.size()) +
                                " time(s) in the inputs; comparing contexts needs two");
  }
  if (!reader.has_maps() || reader.snapshots() == 0) {
    throw dump::DumpError(reader.path().string() + ": no attention maps to read");
  }
  TokenContexts result;
  result.step = reader.steps().back();
  result.occurrences = occurrences;
  const auto tokens = reader.probe(dump::kProbeTokens);
  const auto length = tokens.shape.at(1);
  // Keys past an input's end (padding) are left out: rows are compared over the input's words.
  std::vector<std::int64_t> lengths(static_cast<std::size_t>(tokens.shape.at(0)), length);
  if (reader.has(dump::kProbeLengths)) lengths = reader.probe(dump::kProbeLengths).values;
  const auto snapshot = reader.snapshots() - 1;
  for (std::size_t layer = 0; layer < reader.layers().size(); ++layer) {
    const auto& info = reader.layers()[layer];
    if (info.kind != "self") continue;
    const auto allowed = reader.allowed_keys(static_cast<std::int64_t>(layer));  // [H,Tq]
    for (std::int64_t h = 0; h < info.heads; ++h) {
      HeadContrast head{static_cast<std::int64_t>(layer), h, info.map_kind};
      std::map<std::int64_t, AnalysedMap> maps;  // by input: one read however often it occurs
      for (std::size_t index = 0; index < occurrences.size(); ++index) {
        const auto& occurrence = occurrences[index];
        auto found = maps.find(occurrence.sample);
        if (found == maps.end()) {
          found = maps.emplace(occurrence.sample,
                               read_analysed_map(reader, static_cast<std::int64_t>(layer),
                                                 snapshot, occurrence.sample, h,
                                                 allowed.values.data() + h * info.query_length))
                      .first;
        }
        const auto& map = found->second;
        const auto row = map.weights.begin() + occurrence.position * info.key_length;
        const auto used = std::min(info.key_length,
                                   lengths.at(static_cast<std::size_t>(occurrence.sample)));
        OccurrenceRow entry{static_cast<std::int64_t>(index), std::vector<float>(row, row + used),
                            {}};
        entry.top = strongest_keys(entry.weights, tokens.values.data() + occurrence.sample * length,
                                   top_keys);
        head.rows.push_back(std::move(entry));
      }
      contrast(head, occurrences, tokens);
      result.heads.push_back(std::move(head));
    }
  }
  std::stable_sort(result.heads.begin(), result.heads.end(), ranks_before);
  return result;
}

}  // namespace attnlab::heads
