// The map the head analysis reads (docs/head-metrics.md#what-a-map-is). A distribution's rows
// are read as stored. Any other kind of map (a sink's partial rows, sigmoid's unnormalised ones,
// differential attention's signed ones; dump::kMapKinds) is read row by row as the distribution
//   a_ij = |A_ij| / sum_l |A_il|,
// as the recorder's statistics are, so that every score means where a head looks and none
// mistakes a signed or unnormalised row for probabilities; a row of zero mass has nothing to
// read and counts as an invalid query. The mass itself is the dump's row_mass statistic.
//
// Tq = query length, Tk = key length.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dump/dump_reader.h"

namespace attnlab::heads {

// One (sample, head) map as the analysis reads it.
struct AnalysedMap {
  std::vector<float> weights;         // [Tq*Tk] row-major: A, or |A| row-normalised
  std::vector<std::int32_t> allowed;  // [Tq] n_i; 0 for a row without mass to read
};

// `map` [Tq*Tk], as stored, of the kind `map_kind`; allowed_keys [Tq].
AnalysedMap analysed_map(std::vector<float> map, const std::string& map_kind,
                         const std::int32_t* allowed_keys, std::int64_t query_length,
                         std::int64_t key_length);

// The map of (layer, snapshot, sample, head), analysed; allowed_keys [Tq] of that head.
AnalysedMap read_analysed_map(const dump::DumpReader& reader, std::int64_t layer,
                              std::int64_t snapshot, std::int64_t sample, std::int64_t head,
                              const std::int32_t* allowed_keys);

// What the scores of a layer of `map_kind` describe, for people: "distribution: scores on A" or,
// say, "signed: scores on |A_ij| / sum_l |A_il|, the row mass in row_mass".
std::string analysed_map_description(const std::string& map_kind);

}  // namespace attnlab::heads
