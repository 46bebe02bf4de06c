// attnlab bench attention: time forward and forward+backward of attention variants and measure
// their peak memory, for a list of sequence lengths; writes a CSV and prints a table.
//
// Each measurement runs in a fresh child process (fork), so allocations of one variant never
// flatter or burden the next. Peak memory is the growth of the child's peak resident set (VmHWM in
// /proc/self/status) over its resident set just before the measured call, with the peak reset by
// writing 5 to /proc/self/clear_refs. While memory is measured, glibc serves every allocation above
// 64 KiB with mmap, so freed tensors leave the resident set and a later peak is not hidden by an
// earlier one; timing runs afterwards with allocations reused from the heap, as in training (a
// fresh mmap per tile would add page faults that are not the attention's cost).
// Times are medians of wall-clock time and of the process's CPU time (all threads); on a shared
// machine the CPU time is the steadier of the two.
//
// B = batch, H = heads, T = sequence length, D = head dim.
#include <malloc.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include <ATen/Parallel.h>
#include <fmt/core.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "analysis/csv_number.h"
#include "experiments/cli/commands.h"
#include "experiments/run/atomic_file.h"
#include "experiments/run/forked_child.h"
#include "experiments/run/schema.h"
#include "experiments/run/system_info.h"
#include "variants/attention_variant.h"

namespace attnlab::cli {
namespace {

constexpr const char* kMemoryMethod = "VmHWM growth after clear_refs in a fresh forked process";

struct BenchArguments {
  std::int64_t batch = 1;
  std::int64_t heads = 8;
  std::int64_t head_dim = 64;
  std::vector<std::int64_t> lengths = {256, 512, 1024, 2048, 4096, 8192};
  std::vector<std::string> variants = {"scaled", "local", "strided", "bigbird", "topk"};
  std::vector<std::string> paths = {"chunked", "materialised"};
  std::string direction = "causal";
  std::int64_t max_materialised_length = 4096;
  int repeats = 3;
  int threads = 0;
  std::filesystem::path output = "results/bench/attention.csv";
  std::vector<std::string> overrides;
};

struct Measurement {
  std::string variant, path;
  std::int64_t length = 0;
  variants::VariantOptions options;
  std::string error;  // set when the measurement failed (e.g. the child ran out of memory)
  double forward_ms = NAN, forward_backward_ms = NAN;            // wall clock
  double forward_cpu_ms = NAN, forward_backward_cpu_ms = NAN;    // CPU time of all threads
  double forward_peak_mb = NAN, forward_backward_peak_mb = NAN;
};

// ---- measuring in a child ----------------------------------------------------------------------

double status_mb(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;
  }
  throw std::runtime_error("/proc/self/status has no " + field);
}

// Peak resident growth (MB) while running call().
template <typename Call>
double peak_growth_mb(Call&& call) {
  std::ofstream("/proc/self/clear_refs") << "5";  // VmHWM := VmRSS
  const double before = status_mb("VmRSS");
  call();
  return status_mb("VmHWM") - before;
}

double process_cpu_ms() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

struct Timing {
  double wall_ms, cpu_ms;  // medians
};

template <typename Call>
Timing median_time(int repeats, Call&& call) {
  std::vector<double> walls, cpus;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = process_cpu_ms();
    call();
    cpus.push_back(process_cpu_ms() - cpu_start);
    walls.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(walls.begin(), walls.end());
  std::sort(cpus.begin(), cpus.end());
  return {walls[walls.size() / 2], cpus[cpus.size() / 2]};
}

variants::AttentionSite site_for(const BenchArguments& arguments) {
  return {/*layer=*/0, arguments.heads, arguments.head_dim,
          /*causal=*/arguments.direction == "causal", /*cross=*/false};
}

// In the child: one variant, one length, one path. Prints
// "fwd_ms fwdbwd_ms fwd_cpu_ms fwdbwd_cpu_ms fwd_mb fwdbwd_mb".
std::string measure(const BenchArguments& arguments, const Measurement& job, int threads) {
  // Fixed thresholds: glibc would otherwise raise them after frees. No top padding: the heap
  // grows only by what is allocated (attnlab's start-up keeps freed memory, run/allocator_tuning).
  mallopt(M_MMAP_THRESHOLD, 64 * 1024);
  mallopt(M_TRIM_THRESHOLD, 64 * 1024);
  mallopt(M_TOP_PAD, 0);
  at::set_num_threads(threads);
  torch::manual_seed(0);
  variants::AttentionVariant variant(job.options, site_for(arguments));
  const auto shape = std::vector<std::int64_t>{arguments.batch, arguments.heads, job.length,
                                               arguments.head_dim};
  auto q = torch::randn(shape).requires_grad_(true);  // [B,H,T,D]
  auto k = torch::randn(shape).requires_grad_(true);  // [B,H,T,D]
  auto v = torch::randn(shape).requires_grad_(true);  // [B,H,T,D]
  const auto grad_out = torch::randn(shape);          // [B,H,T,D]
  const bool materialised = job.path == "materialised";
  auto attend = [&]() -> torch::Tensor {
    return materialised ? variant->forward_reference(q, k, v).out
                        : variant->forward(q, k, v, /*need_probs=*/false).out;  // [B,H,T,D]
  };
  auto forward_only = [&] {
    torch::NoGradGuard no_grad;
    (void)attend();
  };
  auto forward_backward = [&] {
    attend().backward(grad_out);
    for (auto* input : {&q, &k, &v}) input->mutable_grad() = torch::Tensor();
  };
  forward_backward();  // warm-up: thread pools, layouts and caches
  const double forward_mb = peak_growth_mb(forward_only);
  const double forward_backward_mb = peak_growth_mb(forward_backward);
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);  // glibc's largest dynamic threshold
  mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
  forward_backward();  // warm the heap
  const auto forward = median_time(arguments.repeats, forward_only);
  const auto backward = median_time(arguments.repeats, forward_backward);
  return fmt::format("{} {} {} {} {} {}", forward.wall_ms, backward.wall_ms, forward.cpu_ms,
                     backward.cpu_ms, forward_mb, forward_backward_mb);
}

// ---- parent -------------------------------------------------------------------------------------

variants::VariantOptions resolve_variant(const BenchArguments& arguments,
                                         const std::string& name) {
  for (const auto& override_text : arguments.overrides) {
    if (override_text.rfind("variant.", 0) != 0) {
      throw config::ConfigError("override '" + override_text +
                                "': bench attention takes only variant.* overrides");
    }
  }
  std::vector<std::string> overrides = {"variant=" + name};
  overrides.insert(overrides.end(), arguments.overrides.begin(), arguments.overrides.end());
  return run::variant_options(run::load_config(/*config_file=*/{}, overrides));
}

// Builds every variant for every length in a child, so that bad combinations fail before any
// measurement or file (exit code 2 naming the key).
void check_variants(const BenchArguments& arguments, const std::vector<Measurement>& jobs) {
  const auto checked = run::run_in_child([&] {
    for (const auto& job : jobs) {
      variants::AttentionVariant variant(job.options, site_for(arguments));
      variants::validate_lengths(job.options, site_for(arguments), job.length, job.length);
    }
    return std::string();
  });
  if (checked.exit_code == 2) throw config::ConfigError(checked.output);
  if (checked.exit_code != 0) {
    throw std::runtime_error("checking the variants failed: " + checked.output);
  }
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

std::string csv(const BenchArguments& arguments, const std::vector<Measurement>& rows,
                int threads) {
  std::ostringstream out;
  out << "variant,score,position,pattern,path,direction,T,B,H,d_head,threads,forward_ms,"
         "forward_backward_ms,forward_cpu_ms,forward_backward_cpu_ms,forward_peak_mb,"
         "forward_backward_peak_mb,memory_method,error\n";
  for (const auto& row : rows) {
    out << fmt::format(
        "{},{},{},{},{},{},{},{},{},{},{},{:.3f},{:.3f},{:.3f},{:.3f},{:.2f},{:.2f},{},{}\n",
        row.variant, option_text(row.options, "score"), option_text(row.options, "position"),
        option_text(row.options, "pattern"), row.path, arguments.direction, row.length,
        arguments.batch, arguments.heads, arguments.head_dim, threads, row.forward_ms,
        row.forward_backward_ms, row.forward_cpu_ms, row.forward_backward_cpu_ms,
        row.forward_peak_mb, row.forward_backward_peak_mb, kMemoryMethod,
        analysis::csv_text(row.error));
  }
  return out.str();
}

void print_row(const Measurement& row) {
  if (!row.error.empty()) {
    fmt::print("{:<12} {:<13} {:>6}  failed: {}\n", row.variant, row.path, row.length, row.error);
  } else {
    fmt::print("{:<12} {:<13} {:>6} {:>10.1f} {:>11.1f} {:>10.1f} {:>11.1f} {:>9.1f} {:>10.1f}\n",
               row.variant, row.path, row.length, row.forward_ms, row.forward_backward_ms,
               row.forward_cpu_ms, row.forward_backward_cpu_ms, row.forward_peak_mb,
               row.forward_backward_peak_mb);
  }
  std::fflush(stdout);
}

// Each variant's time and memory relative to the first variant (the baseline), per length.
void print_ratios(const BenchArguments& arguments, const std::vector<Measurement>& rows) {
  std::map<std::tuple<std::string, std::string, std::int64_t>, const Measurement*> by_key;
  for (const auto& row : rows) {
    if (row.error.empty()) by_key[{row.variant, row.path, row.length}] = &row;
  }
  const std::string& baseline = arguments.variants.front();
  fmt::print("\nratios (baseline / variant; > 1 means the variant is faster or smaller):\n");
  for (const auto length : arguments.lengths) {
    for (const auto& baseline_path : arguments.paths) {
      auto base = by_key.find({baseline, baseline_path, length});
      if (base == by_key.end()) continue;
      for (const auto& variant : arguments.variants) {
        auto other = by_key.find({variant, "chunked", length});
        if (other == by_key.end() || other->second == base->second) continue;
        const auto& a = *base->second;
        const auto& b = *other->second;
        fmt::print(
            "  T={:<5} {} {} vs {} chunked: forward+backward time x{:.1f} (cpu x{:.1f}), peak "
            "memory x{:.1f}; forward time x{:.1f} (cpu x{:.1f}), peak memory x{:.1f}\n",
            length, baseline, baseline_path, variant, a.forward_backward_ms / b.forward_backward_ms,
            a.forward_backward_cpu_ms / b.forward_backward_cpu_ms,
            a.forward_backward_peak_mb / b.forward_backward_peak_mb, a.forward_ms / b.forward_ms,
            a.forward_cpu_ms / b.forward_cpu_ms, a.forward_peak_mb / b.forward_peak_mb);
      }
    }
  }
}

void run_bench(const BenchArguments& arguments) {
  if (arguments.direction != "causal" && arguments.direction != "bidirectional") {
    throw config::ConfigError("--direction must be causal or bidirectional, not '" +
                              arguments.direction + "'");
  }
  const int threads = arguments.threads > 0 ? arguments.threads : run::available_cores();
  std::vector<Measurement> jobs;
  for (const auto& name : arguments.variants) {
    const auto options = resolve_variant(arguments, name);
    for (const auto length : arguments.lengths) {
      for (const auto& path : arguments.paths) {
        if (path == "materialised" && length > arguments.max_materialised_length) continue;
        Measurement job;
        job.variant = name;
        job.path = path;
        job.length = length;
        job.options = options;
        jobs.push_back(std::move(job));
      }
    }
  }
  check_variants(arguments, jobs);

  fmt::print("attention benchmark: B={} H={} d_head={} {} threads={} repeats={} (median)\n",
             arguments.batch, arguments.heads, arguments.head_dim, arguments.direction, threads,
             arguments.repeats);
  fmt::print("times: median wall clock and CPU time (all threads) in ms; forward without "
             "autograd\npeak memory: {}\n\n",
             kMemoryMethod);
  fmt::print("{:<12} {:<13} {:>6} {:>10} {:>11} {:>10} {:>11} {:>9} {:>10}\n", "variant", "path",
             "T", "fwd ms", "fwd+bwd ms", "fwd cpu", "fwd+bwd cpu", "fwd MB", "fwd+bwd MB");
  std::vector<Measurement> rows;
  for (auto& job : jobs) {
    const auto result = run::run_in_child([&] { return measure(arguments, job, threads); });
    if (result.exit_code == 0) {
      std::istringstream(result.output) >> job.forward_ms >> job.forward_backward_ms >>
          job.forward_cpu_ms >> job.forward_backward_cpu_ms >> job.forward_peak_mb >>
          job.forward_backward_peak_mb;
    } else {
      job.error = result.exit_code < 0 ? fmt::format("killed by signal {}", -result.exit_code)
                                       : result.output;
      std::replace(job.error.begin(), job.error.end(), ',', ';');
      std::replace(job.error.begin(), job.error.end(), '\n', ' ');
    }
    print_row(job);
    rows.push_back(job);
    // Rewritten after every row, so an interrupted run keeps what it measured.
    if (!arguments.output.parent_path().empty()) {
      std::filesystem::create_directories(arguments.output.parent_path());
    }
    run::write_file_atomic(arguments.output, csv(arguments, rows, threads));
  }
  print_ratios(arguments, rows);
  fmt::print("\nwrote {}\n", arguments.output.string());
}

void add_attention_benchmark(CLI::App& bench) {
  auto arguments = std::make_shared<BenchArguments>();
  auto* command = bench.add_subcommand(
      "attention", "time forward and forward+backward of attention variants and measure their "
                   "peak memory over sequence lengths");
  command->add_option("--batch", arguments->batch, "batch size B")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--heads", arguments->heads, "heads H")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--head-dim", arguments->head_dim, "head dimension d_head")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--lengths", arguments->lengths, "sequence lengths T, comma separated")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--variants", arguments->variants,
                      "variant presets (configs/variant/<name>.toml), comma separated; the first "
                      "is the baseline of the printed ratios")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->capture_default_str();
  command->add_option("--paths", arguments->paths,
                      "chunked (forward without probabilities) and/or materialised (the plain "
                      "reference path)")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->check(CLI::IsMember({"chunked", "materialised"}))
      ->capture_default_str();
  command->add_option("--direction", arguments->direction, "causal or bidirectional")
      ->check(CLI::IsMember({"causal", "bidirectional"}))
      ->capture_default_str();
  command->add_option("--max-materialised-length", arguments->max_materialised_length,
                      "skip the materialised path above this T (it needs several B*H*T*T "
                      "tensors)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--repeats", arguments->repeats, "timed runs per measurement (median)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--threads", arguments->threads, "threads (default: every available core)");
  command->add_option("--output", arguments->output, "CSV file")->capture_default_str();
  command->add_option("overrides", arguments->overrides,
                      "variant.* overrides applied to every variant, e.g. variant.window=128");
  command->callback([arguments] { run_bench(*arguments); });
}

}  // namespace

void add_bench_attention_command(CLI::App& app) { add_attention_benchmark(bench_command(app)); }

}  // namespace attnlab::cli
