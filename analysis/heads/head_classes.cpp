#include "analysis/heads/head_classes.h"

#include <cmath>

#include "analysis/heads/head_thresholds.h"

namespace attnlab::heads {

double label_threshold(Label label) {
  switch (label) {
    case Label::Induction:
      return kInductionThreshold;
    case Label::Duplicate:
      return kDuplicateThreshold;
    case Label::Previous:
    case Label::Next:
    case Label::Self:
      return kPositionalThreshold;
    case Label::Broad:
      return kBroadThreshold;
    case Label::Sink:
      return kSinkThreshold;
    case Label::Local:
      return kLocalThreshold;
    case Label::Mixed:
      break;
  }
  return HeadScores::kUnknown;
}

const char* label_name(Label label) {
  switch (label) {
    case Label::Induction:
      return "induction";
    case Label::Duplicate:
      return "duplicate";
    case Label::Previous:
      return "previous";
    case Label::Next:
      return "next";
    case Label::Self:
      return "self";
    case Label::Broad:
      return "broad";
    case Label::Sink:
      return "sink";
    case Label::Local:
      return "local";
    case Label::Mixed:
      return "mixed";
  }
  return "?";
}

const std::vector<Label>& labels() {
  static const std::vector<Label> order = {Label::Induction, Label::Duplicate, Label::Previous,
                                           Label::Next,      Label::Self,      Label::Broad,
                                           Label::Sink,      Label::Local,     Label::Mixed};
  return order;
}

HeadScores scores_from_maps(const MapMetrics& metrics) {
  HeadScores scores;
  scores.induction = metrics.prefix_matching;
  scores.duplicate = metrics.duplicate_matching;
  const auto offset = [&](std::int64_t delta) {
    return metrics.offsets[static_cast<std::size_t>(delta + kMaxOffset)];
  };
  scores.previous = offset(1);
  scores.next = offset(-1);
  scores.self = offset(0);
  scores.broad = metrics.entropy_normalised;
  scores.sink = metrics.sink_alpha_0;
  scores.local = metrics.local_mass;
  return scores;
}

double label_score(const HeadScores& scores, Label label) {
  switch (label) {
    case Label::Induction:
      return scores.induction;
    case Label::Duplicate:
      return scores.duplicate;
    case Label::Previous:
      return scores.previous;
    case Label::Next:
      return scores.next;
    case Label::Self:
      return scores.self;
    case Label::Broad:
      return scores.broad;
    case Label::Sink:
      return scores.sink;
    case Label::Local:
      return scores.local;
    case Label::Mixed:
      break;
  }
  return HeadScores::kUnknown;
}

bool passes(const HeadScores& scores, Label label) {
  if (label == Label::Mixed) return false;
  const double score = label_score(scores, label);
  // NaN compares false: an unknown score never passes.
  return score >= label_threshold(label);
}

Classification classify(const HeadScores& scores) {
  Classification result;
  double closest = HeadScores::kUnknown;
  for (const auto label : labels()) {
    if (passes(scores, label)) return {label, label_score(scores, label)};
    const double ratio = label_score(scores, label) / label_threshold(label);
    if (!std::isnan(ratio) && (std::isnan(closest) || ratio > closest)) closest = ratio;
  }
  result.score = closest;
  return result;
}

}  // namespace attnlab::heads
