// One label per head from the scores behind it, with thresholds from head_thresholds.h. Labels are
// tried in a fixed order and the first that passes wins: token-driven patterns (induction,
// duplicate) first, since they are the rarest and most specific; then single offsets; then broad
// before sink and local, because a short causal uniform map passes both of those too.
#pragma once

#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "analysis/heads/map_metrics.h"

namespace attnlab::heads {

enum class Label { Induction, Duplicate, Previous, Next, Self, Broad, Sink, Local, Mixed };

const char* label_name(Label label);
const std::vector<Label>& labels();  // in classification order, Mixed last

// The score each label is decided on; NaN when unknown (e.g. no maps, or no tokens).
struct HeadScores {
  static constexpr double kUnknown = std::numeric_limits<double>::quiet_NaN();
  double induction = kUnknown;  // prefix_matching
  double duplicate = kUnknown;  // duplicate_matching
  double previous = kUnknown;   // P(1)
  double next = kUnknown;       // P(-1)
  double self = kUnknown;       // P(0)
  double broad = kUnknown;      // normalised entropy
  double sink = kUnknown;       // α_0
  double local = kUnknown;      // local_mass
};

HeadScores scores_from_maps(const MapMetrics& metrics);

struct Classification {
  Label label = Label::Mixed;
  // The label's score; for Mixed, the largest score / threshold ratio over the other labels (how
  // close the head came to any class, < 1).
  double score = HeadScores::kUnknown;
};

// The threshold its score must reach (NaN for Mixed).
double label_threshold(Label label);

// The score a label is decided on, and whether it passes its threshold (never for Mixed).
double label_score(const HeadScores& scores, Label label);
bool passes(const HeadScores& scores, Label label);

Classification classify(const HeadScores& scores);

}  // namespace attnlab::heads
