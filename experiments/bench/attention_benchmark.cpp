#include "experiments/bench/attention_benchmark.h"

#include <malloc.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <variant>

#include <ATen/Parallel.h>
#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/linear.h>

#include "base/csv_number.h"
#include "base/forked_child.h"
#include "experiments/bench/call_cost.h"
#include "experiments/config/config.h"
#include "experiments/model/model_config.h"
#include "experiments/run/allocator_tuning.h"
#include "experiments/run/schema.h"
#include "variants/attention_variant.h"

namespace attnlab::bench {
namespace {

variants::AttentionSite site_for(const AttentionBenchmarkSettings& settings) {
  return {/*layer=*/0, settings.heads, settings.head_dim,
          /*causal=*/settings.direction == "causal", /*cross=*/false};
}

variants::VariantOptions resolve_variant(const AttentionBenchmarkSettings& settings,
                                         const std::string& name) {
  for (const auto& override_text : settings.overrides) {
    if (override_text.rfind("variant.", 0) != 0) {
      throw config::ConfigError("override '" + override_text +
                                "': bench attention takes only variant.* overrides");
    }
  }
  std::vector<std::string> overrides = {"variant=" + name};
  overrides.insert(overrides.end(), settings.overrides.begin(), settings.overrides.end());
  return model::variant_options(run::load_config(/*config_file=*/{}, overrides));
}

// The path a row times, called directly: forward() would choose by length, whatever the row says.
variants::AttentionPath timed_path_of(const std::string& row_path) {
  if (row_path == "plain") return variants::AttentionPath::Plain;
  if (row_path == "fused") return variants::AttentionPath::Fused;
  if (row_path == "linear") return variants::AttentionPath::Linear;
  return variants::AttentionPath::Chunked;
}

// In a child: the parent keeps no LibTorch state (thread pools, allocations) for the
// measurements' children to inherit. Builds every variant for every length (bad settings fail
// before any measurement, naming the key) and returns, one per line, the indices of the jobs
// whose variant cannot take the row's path (sigmoid attention has no chunked path, say).
std::string check_variants(const AttentionBenchmarkSettings& settings,
                           const std::vector<AttentionMeasurement>& jobs) {
  const auto checked = attnlab::run_in_child([&] {
    std::string untakeable;
    for (std::size_t index = 0; index < jobs.size(); ++index) {
      const auto& job = jobs[index];
      variants::AttentionVariant variant(job.options, site_for(settings));
      variants::validate_lengths(job.options, site_for(settings), job.length, job.length);
      if (!variant->takes_path(timed_path_of(job.path))) untakeable += std::to_string(index) + "\n";
    }
    return untakeable;
  });
  if (checked.exit_code == 2) throw config::ConfigError(checked.output);
  if (checked.exit_code != 0) {
    throw std::runtime_error("checking the variants failed: " + checked.output);
  }
  return checked.output;
}

// The jobs whose variant can take their path; a note on stderr for each (variant, path) dropped.
std::vector<AttentionMeasurement> takeable_jobs(std::vector<AttentionMeasurement> jobs,
                                                const std::string& untakeable) {
  std::vector<bool> drop(jobs.size(), false);
  std::istringstream lines(untakeable);
  for (std::size_t index = 0; lines >> index;) drop.at(index) = true;
  std::vector<AttentionMeasurement> kept;
  std::string noted;
  for (std::size_t index = 0; index < jobs.size(); ++index) {
    if (!drop[index]) {
      kept.push_back(std::move(jobs[index]));
      continue;
    }
    const auto note = jobs[index].variant + " has no " + jobs[index].path + " path";
    if (noted.find(note) == std::string::npos) {
      fmt::print(stderr, "note: {}: its {} rows are skipped\n", note, jobs[index].path);
      noted += note + ";";
    }
  }
  return kept;
}

// The attention's inputs: q [B,H,T,D]; k, v [B,G,T,D] with the variant's key/value heads; x
// [B,T,H*D] for an output gate (undefined otherwise).
struct AttentionInputs {
  torch::Tensor q, k, v, x;
};

AttentionInputs random_inputs(const AttentionBenchmarkSettings& settings, std::int64_t length,
                              const variants::AttentionVariant& variant) {
  const auto batch = settings.batch, dim = settings.head_dim;
  AttentionInputs inputs;
  inputs.q = torch::randn({batch, settings.heads, length, dim}).requires_grad_(true);
  inputs.k = torch::randn({batch, variant->kv_heads(), length, dim}).requires_grad_(true);
  inputs.v = torch::randn({batch, variant->kv_heads(), length, dim}).requires_grad_(true);
  if (variant->uses_gate_input()) {
    inputs.x = torch::randn({batch, length, settings.heads * dim}).requires_grad_(true);
  }
  return inputs;
}

torch::Tensor attend(variants::AttentionVariant& variant, variants::AttentionPath path,
                     const AttentionInputs& in) {
  switch (path) {
    case variants::AttentionPath::Plain: return variant->forward_plain(in.q, in.k, in.v, in.x).out;
    case variants::AttentionPath::Fused: return variant->forward_fused(in.q, in.k, in.v, in.x);
    case variants::AttentionPath::Linear: return variant->forward_linear(in.q, in.k, in.v, in.x);
    case variants::AttentionPath::Chunked: break;
  }
  return variant->forward_chunked(in.q, in.k, in.v, in.x);  // [B,H,T,D]
}

// Forward and backward of the key and value projections [B,T,C] -> [B,T,2 G D], the part of
// multi-head attention that shared key/value heads shrink (the query and output projections stay
// C x C). Median wall-clock ms.
double key_value_projection_ms(const AttentionBenchmarkSettings& settings, std::int64_t length,
                               std::int64_t kv_heads) {
  const auto width = settings.heads * settings.head_dim;
  torch::nn::Linear projection(width, 2 * kv_heads * settings.head_dim);
  const auto x = torch::randn({settings.batch, length, width});
  auto step = [&] {
    projection->zero_grad();
    projection(x).sum().backward();
  };
  step();  // warm-up
  return median_call_time(settings.repeats, step).wall_ms;
}

// While memory is measured, glibc serves every allocation above 64 KiB with mmap (switched back on:
// attnlab's start-up turns it off), so freed tensors leave the resident set and a later peak is
// not hidden by an earlier one. Fixed thresholds: glibc would otherwise raise them after frees. No
// top padding: the heap grows only by what is allocated.
void map_each_large_allocation() {
  mallopt(M_MMAP_MAX, 65536);  // glibc's default
  mallopt(M_MMAP_THRESHOLD, 64 * 1024);
  mallopt(M_TRIM_THRESHOLD, 64 * 1024);
  mallopt(M_TOP_PAD, 0);
}

// While time is measured, allocations are reused from the heap under training's policy
// (run/allocator_tuning): a fresh mmap per tile would add page faults that are not the
// attention's cost.
void reuse_heap_allocations() { run::keep_freed_memory(); }

// In the child: one variant, one length, one path.
nlohmann::json measure_here(const AttentionBenchmarkSettings& settings, int threads,
                            const AttentionMeasurement& job) {
  map_each_large_allocation();
  at::set_num_threads(threads);
  torch::manual_seed(0);
  variants::AttentionVariant variant(job.options, site_for(settings));
  auto inputs = random_inputs(settings, job.length, variant);
  const auto grad_out = torch::randn_like(inputs.q);  // [B,H,T,D]
  const auto path = timed_path_of(job.path);
  auto forward_only = [&] {
    torch::NoGradGuard no_grad;
    (void)attend(variant, path, inputs);
  };
  auto forward_backward = [&] {
    attend(variant, path, inputs).backward(grad_out);
    for (auto* input : {&inputs.q, &inputs.k, &inputs.v, &inputs.x}) {
      if (input->defined()) input->mutable_grad() = torch::Tensor();
    }
  };
  forward_backward();  // warm-up: thread pools, layouts and caches
  const double forward_mb = peak_resident_growth_mb(forward_only);
  const double forward_backward_mb = peak_resident_growth_mb(forward_backward);
  reuse_heap_allocations();
  forward_backward();  // warm the heap
  const auto forward = median_call_time(settings.repeats, forward_only);
  const auto backward = median_call_time(settings.repeats, forward_backward);
  return {{"timed_path", variants::path_name(path)},
          {"kv_projection_ms", key_value_projection_ms(settings, job.length, variant->kv_heads())},
          {"forward_ms", forward.wall_ms},
          {"forward_backward_ms", backward.wall_ms},
          {"forward_cpu_ms", forward.cpu_ms},
          {"forward_backward_cpu_ms", backward.cpu_ms},
          {"forward_peak_mb", forward_mb},
          {"forward_backward_peak_mb", forward_backward_mb}};
}

void read_measurement(const nlohmann::json& result, AttentionMeasurement& job) {
  job.timed_path = result.at("timed_path").get<std::string>();
  job.forward_ms = result.at("forward_ms").get<double>();
  job.forward_backward_ms = result.at("forward_backward_ms").get<double>();
  job.forward_cpu_ms = result.at("forward_cpu_ms").get<double>();
  job.forward_backward_cpu_ms = result.at("forward_backward_cpu_ms").get<double>();
  job.forward_peak_mb = result.at("forward_peak_mb").get<double>();
  job.forward_backward_peak_mb = result.at("forward_backward_peak_mb").get<double>();
  job.kv_projection_ms = result.at("kv_projection_ms").get<double>();
}

std::string option_text(const variants::VariantOptions& options, const std::string& name) {
  return std::visit(
      [](const auto& value) -> std::string {
        using Held = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<Held, std::string>) {
          return value;
        } else if constexpr (std::is_same_v<Held, bool>) {
          return value ? "true" : "false";
        } else {
          return fmt::format("{}", value);
        }
      },
      options.values().at(name));
}

}  // namespace

std::vector<AttentionMeasurement> plan_attention_benchmark(
    const AttentionBenchmarkSettings& settings) {
  if (settings.direction != "causal" && settings.direction != "bidirectional") {
    throw config::ConfigError("--direction must be causal or bidirectional, not '" +
                              settings.direction + "'");
  }
  std::vector<AttentionMeasurement> jobs;
  for (const auto& name : settings.variants) {
    const auto options = resolve_variant(settings, name);
    for (const auto length : settings.lengths) {
      for (const auto& path : settings.paths) {
        if (path == "plain" && length > settings.max_plain_length) continue;
        AttentionMeasurement job;
        job.variant = name;
        job.path = path;
        job.length = length;
        job.options = options;
        jobs.push_back(std::move(job));
      }
    }
  }
  const auto untakeable = check_variants(settings, jobs);
  return takeable_jobs(std::move(jobs), untakeable);
}

void measure_attention(const AttentionBenchmarkSettings& settings, int threads,
                       AttentionMeasurement& job) {
  const auto result =
      attnlab::run_in_child([&] { return measure_here(settings, threads, job).dump(); });
  if (result.exit_code == 0) {
    read_measurement(nlohmann::json::parse(result.output), job);
    return;
  }
  job.error = result.exit_code < 0 ? fmt::format("killed by signal {}", -result.exit_code)
                                   : result.output;
  std::replace(job.error.begin(), job.error.end(), ',', ';');
  std::replace(job.error.begin(), job.error.end(), '\n', ' ');
}

std::string attention_csv(const AttentionBenchmarkSettings& settings, int threads,
                          const std::vector<AttentionMeasurement>& rows) {
  std::ostringstream out;
  out << "variant,score,position,pattern,qk_norm,normaliser,mixer,gate,kv_heads,softcap,path,"
         "timed_path,direction,T,B,H,d_head,threads,forward_ms,forward_backward_ms,"
         "forward_cpu_ms,forward_backward_cpu_ms,forward_peak_mb,forward_backward_peak_mb,"
         "kv_projection_ms,memory_method,error\n";
  for (const auto& row : rows) {
    const auto& options = row.options;
    const auto kv_heads = options.get_int("kv_heads");
    out << fmt::format("{},{},{},{},{},{},{},{},{},{},", row.variant, option_text(options, "score"),
                       option_text(options, "position"), option_text(options, "pattern"),
                       option_text(options, "qk_norm"), option_text(options, "normaliser"),
                       option_text(options, "mixer"), option_text(options, "gate"),
                       kv_heads == 0 ? settings.heads : kv_heads, option_text(options, "softcap"));
    out << fmt::format(
        "{},{},{},{},{},{},{},{},{:.3f},{:.3f},{:.3f},{:.3f},{:.2f},{:.2f},{:.3f},{},{}\n",
        row.path, row.timed_path, settings.direction, row.length, settings.batch, settings.heads,
        settings.head_dim, threads, row.forward_ms, row.forward_backward_ms, row.forward_cpu_ms,
        row.forward_backward_cpu_ms, row.forward_peak_mb, row.forward_backward_peak_mb,
        row.kv_projection_ms, kAttentionMemoryMethod, attnlab::csv_text(row.error));
  }
  return out.str();
}

}  // namespace attnlab::bench
