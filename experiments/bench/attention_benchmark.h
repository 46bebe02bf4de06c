// `attnlab bench attention`: the median time of forward and forward+backward of attention variants
// and their peak memory, over sequence lengths, on the path each row names (chunked, fused, plain
// or linear), and the time of the key/value projections their kv heads need (attention_scaling.h
// fits how time and memory grow with T). Each measurement runs in a fresh forked child
// (base/forked_child.h), so the allocations of one variant never flatter or burden the next; the
// child hands its result back as JSON.
//
// B = batch, H = heads, T = sequence length, D = head dim.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "variants/options.h"

namespace attnlab::bench {

inline constexpr const char* kAttentionMemoryMethod =
    "VmHWM growth after clear_refs in a fresh forked process";

struct AttentionBenchmarkSettings {
  std::int64_t batch = 1;      // B
  std::int64_t heads = 8;      // H
  std::int64_t head_dim = 64;  // D
  std::vector<std::int64_t> lengths = {256, 512, 1024, 2048, 4096, 8192};  // T
  // Presets (configs/variant/<name>.toml); the first is the baseline of the printed ratios.
  std::vector<std::string> variants = {"scaled", "local", "strided", "bigbird", "topk"};
  // The rows' paths: "chunked" (the online-softmax path over tiles), "fused" (the CPU
  // head-by-head path), "plain" (every score at once) and/or "linear" (linear attention's scan
  // over kernel features). A variant whose parts cannot take a path has no rows for it.
  std::vector<std::string> paths = {"chunked", "plain"};
  std::string direction = "causal";             // or "bidirectional"
  std::int64_t max_plain_length = 4096;  // no plain row above this T
  int repeats = 3;                              // timed runs per measurement (median)
  std::vector<std::string> overrides;           // variant.* overrides applied to every variant
};

// One row: a variant, a length and a path, and what was measured.
struct AttentionMeasurement {
  std::string variant;  // the preset's name
  std::string path;     // the row's path: "chunked", "fused", "plain" or "linear"
  std::int64_t length = 0;
  variants::VariantOptions options;
  std::string timed_path;  // the attention path that ran (variants::path_name); empty if it failed
  std::string error;       // set when the measurement failed (e.g. the child ran out of memory)
  double forward_ms = NAN, forward_backward_ms = NAN;          // wall clock
  double forward_cpu_ms = NAN, forward_backward_cpu_ms = NAN;  // CPU time of all threads
  double forward_peak_mb = NAN, forward_backward_peak_mb = NAN;
  // Forward+backward of the key/value projections, C -> 2 G D at this T: what shared key/value
  // heads save outside the attention itself.
  double kv_projection_ms = NAN;
};

// Every (variant, length, path) to measure, in that order, without the paths a variant's parts
// cannot take. Each variant is built for each length in a child first, so that bad settings fail
// before any measurement or file: config::ConfigError naming the key.
std::vector<AttentionMeasurement> plan_attention_benchmark(
    const AttentionBenchmarkSettings& settings);

// Measures `job` on `threads` threads in a fresh forked child: sets its times, peaks and
// timed_path, or its error (on one line, without commas).
void measure_attention(const AttentionBenchmarkSettings& settings, int threads,
                       AttentionMeasurement& job);

// A header line, then one line per row: what pandas and the report read.
std::string attention_csv(const AttentionBenchmarkSettings& settings, int threads,
                          const std::vector<AttentionMeasurement>& rows);

}  // namespace attnlab::bench
