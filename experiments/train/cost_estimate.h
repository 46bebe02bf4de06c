// What a training run will cost before it starts: parameters, FLOPs, and the peak memory of a
// step on the configured device as a sum of named terms, so that a run that cannot fit is refused
// before its run directory exists (`attnlab config show --cost`, the first lines of `train`).
//
// The memory model counts fp32 tensors: the weights with their gradients and AdamW's two moments,
// the activations each layer keeps for the backward pass (block by block, as the model's forward
// pass creates them), what the attention path of each layer keeps (fused: the packed probability
// blocks; plain: [B,H,Tq,Tk] twice; chunked: O(T) sums and one tile per head; linear: O(T)
// features, chunk states and within-chunk products), the backward pass's largest working tensor,
// the validation pass and the recorder's probe. The peak is what is always resident plus the
// largest phase. tests/experiments/train/test_cost_estimate.cpp holds it to the measured peak RSS
// of real runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/config/config.h"

namespace attnlab::train {

enum class Phase { Always, Step, Evaluation, Recording };
const char* phase_name(Phase phase);

struct MemoryTerm {
  std::string name;
  Phase phase = Phase::Always;
  std::int64_t bytes = 0;
  std::vector<std::string> keys;  // config keys that shrink it
};

struct CostEstimate {
  std::int64_t parameters = 0;
  std::int64_t tokens_per_step = 0;
  double flops_per_token = 0.0;  // model FLOPs of training, PaLM's count (model_size.h)
  double flops_per_step = 0.0;
  std::string device;
  std::vector<std::string> attention_paths;  // "self 64x64: fused", one per attention kind
  std::vector<MemoryTerm> terms;
  Phase peak_phase = Phase::Step;  // the phase on top of the always-resident terms at the peak
  std::int64_t peak_bytes = 0;
  std::int64_t resident_bytes = 0;  // this process's resident set when estimated (a term too)

  // The largest term counted in the peak (the one to shrink first).
  const MemoryTerm& largest() const;
  nlohmann::json to_json() const;
};

// Builds no model: parameters and shapes come from the config (model_size.h, attention_shapes.h);
// one attention module per kind tells the path and, for the fused path, the reachable keys.
// The process's resident set at this moment is the "runtime" term. Throws config::ConfigError for
// configs the task or the variant reject.
CostEstimate estimate_cost(const config::Config& config);

// Lines for a terminal: parameters, FLOPs, the memory terms (those counted in the peak, or all of
// them), the peak and what is available.
std::string describe_cost(const CostEstimate& estimate, bool all_terms = true);

// Throws config::ConfigError when the peak exceeds the memory available to this process (RAM or
// the cgroup's limit), naming the largest term and the keys that shrink it; not with
// runtime.allow_oversubscribe = true, nor where the available memory cannot be read (a GPU's free
// memory is not read yet). With `child_processes` = 0 this process runs the estimate (its own
// resident set is part of the peak); N > 0 child processes run it side by side (a local sweep's
// --jobs) beside this one, each needing the whole peak.
void check_memory(const CostEstimate& estimate, const config::Config& config,
                  std::int64_t child_processes = 0);

}  // namespace attnlab::train
