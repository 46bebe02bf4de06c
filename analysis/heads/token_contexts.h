// One token in different contexts (`attnlab probe --token`): for every self-attention head, the
// attention rows of the token's occurrences in a probe's inputs, their strongest keys, and how far
// apart the occurrences' rows are. Distances are Jensen-Shannon distances (base 2: 0 for equal
// rows, 1 for rows on disjoint keys) between two rows aligned
//   by relative position: the weight on the key d tokens back (d = 0: the token itself; keys
//     after it, in a bidirectional layer, at negative d), so two previous-token rows are equal
//     whatever the words;
//   by attended token: the weight summed per token of the keys, so two rows on the same words
//     are equal wherever those words stand.
// A head's distances are the means over pairs of occurrences; heads are ranked by the distance by
// attended token, largest first. Rows are the analysed map (analysed_map.h: A for a distribution,
// |A| row-normalised for any other map kind) over the input's own keys: the weight on padding
// after an input's end (/probe/lengths) is left out. A row without mass has no distance.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dump/dump_reader.h"

namespace attnlab::heads {

struct Occurrence {
  std::int64_t sample = 0;    // the input
  std::int64_t position = 0;  // the token's position in it
};

// Positions holding `token` in the first lengths[b] tokens of each input; tokens [B,T].
std::vector<Occurrence> find_occurrences(const dump::Array<std::int64_t>& tokens,
                                         const std::vector<std::int64_t>& lengths,
                                         std::int64_t token);
// Position `position` of every input at least that long.
std::vector<Occurrence> occurrences_at(const std::vector<std::int64_t>& lengths,
                                       std::int64_t position);

struct AttendedKey {
  std::int64_t position = 0;
  std::int64_t token = 0;
  double weight = 0;
};

struct OccurrenceRow {
  std::int64_t occurrence = 0;   // index into TokenContexts::occurrences
  std::vector<float> weights;    // the analysed row over the input's own keys (no padding)
  std::vector<AttendedKey> top;  // the strongest keys, strongest first
};

struct HeadContrast {
  std::int64_t layer = 0, head = 0;
  std::string map_kind;
  double by_position = 0, by_token = 0;  // mean distance over pairs; NaN without one
  double max_by_token = 0;
  std::int64_t first = 0, second = 1;    // the pair of occurrences furthest apart by token
  std::vector<OccurrenceRow> rows;       // one per occurrence
};

struct TokenContexts {
  std::int64_t step = 0;  // the snapshot read (the dump's last)
  std::vector<Occurrence> occurrences;
  std::vector<HeadContrast> heads;  // ranked
};

// Reads the last snapshot's maps of every self-attention layer. Throws std::invalid_argument with
// fewer than two occurrences, and dump::DumpError when the dump has no maps.
TokenContexts token_contexts(const dump::DumpReader& reader,
                             const std::vector<Occurrence>& occurrences, std::int64_t top_keys);

// Jensen-Shannon distance (base 2) of two rows aligned as the header says; NaN when a row has no
// mass. keys [Tk] are the row's key tokens.
double distance_by_position(const std::vector<float>& first, std::int64_t first_position,
                            const std::vector<float>& second, std::int64_t second_position);
double distance_by_token(const std::vector<float>& first, const std::vector<float>& second,
                         const std::int64_t* first_keys, const std::int64_t* second_keys);

}  // namespace attnlab::heads
