// A probe of a user's own inputs (`attnlab probe`): texts tokenized with the run's task, as one
// batch the recorder runs like its drawn probe.
//
// Inputs of different lengths are padded at the end to the longest: with the task's padding
// token when it has one (the model was trained on such padding, so rows are padded to at least
// the task's length, as in training), else with token 0, which only a
// causal model may be given (its rows for an input's own tokens never see what follows them), so
// a bidirectional model without a padding token takes inputs of one length only. A language
// model's targets are the next tokens of each input; a classifier's are unknown (kIgnore).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "experiments/record/recorder.h"

namespace attnlab::record {

struct ProbeInput {
  std::string text;
  std::string origin;  // for messages: "--text 2" or "inputs.txt:4"
};

// What the model can read: its longest input (learned positions: the trained length) and whether
// every self-attention layer is causal.
struct ProbeLimits {
  std::int64_t longest = -1;  // -1: no limit
  std::string longest_reason;
  bool causal = true;
};

// Throws config::ConfigError naming an input's origin when it cannot be tokenized, holds no
// token or is too long, and when unequal lengths cannot be padded.
Probe text_probe(const tasks::Task& task, const std::vector<ProbeInput>& inputs,
                 const ProbeLimits& limits);

}  // namespace attnlab::record
