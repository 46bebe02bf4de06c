// Fuzzes the sweep grammar (experiments/sweep/sweep_grammar.cpp). The input is one sweep
// parameter per line, as `attnlab sweep` takes them: `seed=range(0,3)`, `variant=glob(rope*)`,
// `train.lr=1e-3,3e-4`. Each is parsed, the accepted ones are expanded into jobs, and the first
// job's overrides go through parse_override(), as they do when the job trains. Rejections must be
// ConfigError; any other exception, a crash or a sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "experiments/config/config.h"
#include "experiments/sweep/sweep_grammar.h"

namespace {

using attnlab::config::ConfigError;

// The options of configs/'s groups, fixed here so that glob() behaves the same in every run.
std::vector<std::string> group_options(const std::string& group) {
  static const std::map<std::string, std::vector<std::string>> options = {
      {"model", {"tiny"}},
      {"task",
       {"charlm", "copy", "induction", "listops", "mqar", "reverse", "selective_copy", "sort",
        "textcls"}},
      {"train", {"mqar", "quick"}},
      {"variant",
       {"additive", "alibi", "bigbird", "dot", "local", "rope", "rope_local", "scaled", "strided",
        "topk"}},
  };
  const auto found = options.find(group);
  return found == options.end() ? std::vector<std::string>{} : found->second;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<attnlab::sweep::SweepParameter> parameters;
  for (const std::string& line : lines_of(text)) {
    try {
      parameters.push_back(attnlab::sweep::parse_parameter(line, group_options));
    } catch (const ConfigError&) {
    }
  }
  if (parameters.empty()) return 0;
  std::vector<std::vector<std::string>> jobs;
  try {
    jobs = attnlab::sweep::expand(parameters);
  } catch (const ConfigError&) {
    return 0;
  }
  if (jobs.empty()) return 0;
  for (const std::string& override_text : jobs.front()) {
    try {
      attnlab::config::parse_override(override_text);
    } catch (const ConfigError&) {
    }
  }
  return 0;
}
