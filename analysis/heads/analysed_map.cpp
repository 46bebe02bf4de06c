#include "analysis/heads/analysed_map.h"

#include <cmath>
#include <utility>

namespace attnlab::heads {

AnalysedMap analysed_map(std::vector<float> map, const std::string& map_kind,
                         const std::int32_t* allowed_keys, std::int64_t query_length,
                         std::int64_t key_length) {
  AnalysedMap result{std::move(map), {allowed_keys, allowed_keys + query_length}};
  if (dump::analyses_raw_map(map_kind)) return result;
  for (std::int64_t i = 0; i < query_length; ++i) {
    float* row = result.weights.data() + i * key_length;
    double mass = 0;
    for (std::int64_t j = 0; j < key_length; ++j) mass += std::abs(static_cast<double>(row[j]));
    // A NaN row (a diverged run) stays NaN, so that its scores say so.
    if (mass == 0) {
      result.allowed[static_cast<std::size_t>(i)] = 0;
      continue;
    }
    for (std::int64_t j = 0; j < key_length; ++j) {
      row[j] = static_cast<float>(std::abs(static_cast<double>(row[j])) / mass);
    }
  }
  return result;
}

AnalysedMap read_analysed_map(const dump::DumpReader& reader, std::int64_t layer,
                              std::int64_t snapshot, std::int64_t sample, std::int64_t head,
                              const std::int32_t* allowed_keys) {
  const auto& info = reader.layers()[static_cast<std::size_t>(layer)];
  return analysed_map(reader.map(layer, snapshot, sample, head), info.map_kind, allowed_keys,
                      info.query_length, info.key_length);
}

std::string analysed_map_description(const std::string& map_kind) {
  if (dump::analyses_raw_map(map_kind)) return map_kind + " maps: scores on A as stored";
  return map_kind + " maps: scores on |A_ij| / sum_l |A_il| (" + dump::kBasisNormalisedAbs +
         "), the row mass in " + dump::kRowMass + " and " + dump::kRowAbsMass;
}

}  // namespace attnlab::heads
