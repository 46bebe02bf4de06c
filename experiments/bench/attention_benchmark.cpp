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

#include "base/csv_number.h"
#include "base/forked_child.h"
#include "experiments/bench/call_cost.h"
#include "experiments/config/config.h"
#include "experiments/model/model_config.h"
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

// In a child: the parent keeps no LibTorch state (thread pools, allocations) for the
// measurements' children to inherit.
void check_variants(const AttentionBenchmarkSettings& settings,
                    const std::vector<AttentionMeasurement>& jobs) {
  const auto checked = attnlab::run_in_child([&] {
    for (const auto& job : jobs) {
      variants::AttentionVariant variant(job.options, site_for(settings));
      variants::validate_lengths(job.options, site_for(settings), job.length, job.length);
    }
    return std::string();
  });
  if (checked.exit_code == 2) throw config::ConfigError(checked.output);
  if (checked.exit_code != 0) {
    throw std::runtime_error("checking the variants failed: " + checked.output);
  }
}

// The path a row times, called directly: forward() would take the fused or the plain path for
// sequences up to variant.materialise_max, whatever the row says.
variants::AttentionPath timed_path_of(const std::string& row_path) {
  return row_path == "plain" ? variants::AttentionPath::Plain
                                    : variants::AttentionPath::Chunked;
}

torch::Tensor attend(variants::AttentionVariant& variant, variants::AttentionPath path,
                     const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  if (path == variants::AttentionPath::Plain) return variant->forward_plain(q, k, v).out;
  return variant->forward_chunked(q, k, v);  // [B,H,T,D]
}

// While memory is measured, glibc serves every allocation above 64 KiB with mmap, so freed
// tensors leave the resident set and a later peak is not hidden by an earlier one. Fixed
// thresholds: glibc would otherwise raise them after frees. No top padding: the heap grows only
// by what is allocated (attnlab's start-up keeps freed memory, run/allocator_tuning).
void map_each_large_allocation() {
  mallopt(M_MMAP_THRESHOLD, 64 * 1024);
  mallopt(M_TRIM_THRESHOLD, 64 * 1024);
  mallopt(M_TOP_PAD, 0);
}

// While time is measured, allocations are reused from the heap, as in training: a fresh mmap per
// tile would add page faults that are not the attention's cost.
void reuse_heap_allocations() {
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);  // glibc's largest dynamic threshold
  mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
}

// In the child: one variant, one length, one path.
nlohmann::json measure_here(const AttentionBenchmarkSettings& settings, int threads,
                            const AttentionMeasurement& job) {
  map_each_large_allocation();
  at::set_num_threads(threads);
  torch::manual_seed(0);
  variants::AttentionVariant variant(job.options, site_for(settings));
  const auto shape =
      std::vector<std::int64_t>{settings.batch, settings.heads, job.length, settings.head_dim};
  auto q = torch::randn(shape).requires_grad_(true);  // [B,H,T,D]
  auto k = torch::randn(shape).requires_grad_(true);  // [B,H,T,D]
  auto v = torch::randn(shape).requires_grad_(true);  // [B,H,T,D]
  const auto grad_out = torch::randn(shape);          // [B,H,T,D]
  const auto path = timed_path_of(job.path);
  auto forward_only = [&] {
    torch::NoGradGuard no_grad;
    (void)attend(variant, path, q, k, v);
  };
  auto forward_backward = [&] {
    attend(variant, path, q, k, v).backward(grad_out);
    for (auto* input : {&q, &k, &v}) input->mutable_grad() = torch::Tensor();
  };
  forward_backward();  // warm-up: thread pools, layouts and caches
  const double forward_mb = peak_resident_growth_mb(forward_only);
  const double forward_backward_mb = peak_resident_growth_mb(forward_backward);
  reuse_heap_allocations();
  forward_backward();  // warm the heap
  const auto forward = median_call_time(settings.repeats, forward_only);
  const auto backward = median_call_time(settings.repeats, forward_backward);
  return {{"timed_path", variants::path_name(path)},
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
  check_variants(settings, jobs);
  return jobs;
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
  out << "variant,score,position,pattern,path,timed_path,direction,T,B,H,d_head,threads,"
         "forward_ms,forward_backward_ms,forward_cpu_ms,forward_backward_cpu_ms,forward_peak_mb,"
         "forward_backward_peak_mb,memory_method,error\n";
  for (const auto& row : rows) {
    out << fmt::format(
        "{},{},{},{},{},{},{},{},{},{},{},{},{:.3f},{:.3f},{:.3f},{:.3f},{:.2f},{:.2f},{},{}\n",
        row.variant, option_text(row.options, "score"), option_text(row.options, "position"),
        option_text(row.options, "pattern"), row.path, row.timed_path, settings.direction,
        row.length, settings.batch, settings.heads, settings.head_dim, threads, row.forward_ms,
        row.forward_backward_ms, row.forward_cpu_ms, row.forward_backward_cpu_ms,
        row.forward_peak_mb, row.forward_backward_peak_mb, kAttentionMemoryMethod,
        attnlab::csv_text(row.error));
  }
  return out.str();
}

}  // namespace attnlab::bench
