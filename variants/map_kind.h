// What a row of an attention map is. Softmax rows are distributions; a sink's rows hold less than 1;
// sigmoid rows hold any non-negative mass; differential maps are signed. Recording and analysis
// compute their statistics on the row-normalised absolute map of every kind but a distribution,
// keep the row mass as its own statistic, and say which they did.
#pragma once

#include <string>

namespace attnlab::variants {

enum class MapKind {
  Distribution,  // A_ij >= 0, sum_j A_ij = 1 over the allowed keys
  Partial,       // A_ij >= 0, sum_j A_ij <= 1 (softmax with a sink: the rest went to the sink)
  Unnormalised,  // A_ij >= 0, any row sum (sigmoid attention)
  Signed,        // any sign (differential attention)
};

// "distribution", "partial", "unnormalised", "signed": the dump's map_kind attribute.
inline const char* map_kind_name(MapKind kind) {
  switch (kind) {
    case MapKind::Distribution: return "distribution";
    case MapKind::Partial: return "partial";
    case MapKind::Unnormalised: return "unnormalised";
    case MapKind::Signed: return "signed";
  }
  return "distribution";
}

}  // namespace attnlab::variants
