// `attnlab probe`: a trained run's checkpoint run in eval mode on a user's own inputs, recorded as
// an attention dump in the usual schema (one snapshot at the checkpoint's step; its probe group
// holds the inputs and their tokens as text: dump/dump_schema.h), which `analyze` and `report`
// read like a run's. With --token (a word, or a token of the task's own notation) or --position,
// the token's occurrences are compared head by head (analysis/heads/token_contexts.h) into
// token_heads.csv, token_rows.csv and token_context.svg.
//
// The folder is <run>/probes/probe-<YYYYmmdd-HHMMSS> (or --out). Everything is checked before any
// work, the inputs' lengths against the model included, so bad input writes nothing; the folder
// is made under a temporary name (.probe-<pid>.partial beside it), removed on failure and renamed
// when complete, so the final name only ever holds a whole probe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "analysis/heads/token_context_report.h"

namespace attnlab::record {

struct ProbeRequest {
  std::filesystem::path run;
  std::string checkpoint = "best";             // best, latest or a file (find_checkpoint)
  std::vector<std::string> texts;              // --text, one input each
  std::vector<std::filesystem::path> files;    // --file, one input per non-empty line
  std::string token;                           // --token: compare this token's occurrences
  std::int64_t position = -1;                  // --position: or this position of every input
  std::filesystem::path out;                   // empty: <run>/probes/probe-<timestamp>
  std::int64_t top_heads = 4;                  // heads in the summary and the figure
  std::vector<std::string> overrides;          // eval.* and runtime.* only
};

struct ProbeResult {
  std::filesystem::path out;  // the folder written
  std::filesystem::path checkpoint;
  std::int64_t step = 0;
  std::int64_t inputs = 0;
  std::int64_t longest = 0;  // tokens of the longest input
  heads::InputTokens tokens;
  std::optional<heads::TokenContexts> contexts;  // with --token or --position
  std::vector<std::filesystem::path> files;      // written, in the folder
};

// Throws config::ConfigError (exit 2) for bad options, inputs or overrides, before writing.
ProbeResult probe_run(const ProbeRequest& request);

}  // namespace attnlab::record
