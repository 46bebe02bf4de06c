// The report's part for a probe folder with one token's contexts compared (`attnlab probe
// --token`): for every head of token_heads.csv, in its rank order, the pair of occurrences
// furthest apart, each as its input's tokens (as text) and the weights its row puts on them,
// read from the probe's dump.
//
//   token_context: null | {token, occurrences, step,
//     heads: [{rank, layer, head, map_kind, js_by_token, js_by_position,
//              panels: [{input, position, tokens: [str], weights: [number]}] (two)}]}
#pragma once

#include <filesystem>

#include <nlohmann/json.hpp>

#include "dump/dump_reader.h"

namespace attnlab::report {

// null when the folder has no token_heads.csv; throws std::invalid_argument naming the file for
// one that does not fit the dump.
nlohmann::json token_context_json(const std::filesystem::path& folder,
                                  const dump::DumpReader& reader);

}  // namespace attnlab::report
