#include "experiments/train/cost_estimate.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <torch/types.h>

#include "experiments/model/attention_shapes.h"
#include "experiments/model/model_config.h"
#include "experiments/model/model_size.h"
#include "experiments/run/available_memory.h"
#include "experiments/tasks/task.h"
#include "experiments/train/precision.h"
#include "variants/attention_variant.h"
#include "variants/linear_attention.h"

// B = examples in a pass, T = target length, S = source length, C = d_model, R = MLP ratio,
// H = heads, V = outputs (vocabulary or classes).
namespace attnlab::train {
namespace {

constexpr double kFloat = 4.0;  // bytes of an fp32 element
// MB as summary.json's peak_rss_mb counts them (getrusage's KiB / 1024).
constexpr double kMegabyte = 1024.0 * 1024.0;
constexpr double kLargestMaskRead = 16.0 * 1024 * 1024;

// Tensors of [tokens, C] each block keeps for the backward pass. Self-attention: its input, the
// LayerNorm's output, Q, K and V (one [T,3C] projection), the merged heads; then the residual sum,
// the MLP's LayerNorm output and its [T,RC] input and GELU output. Cross-attention adds the
// residual sum before it, its LayerNorm output, the queries, the merged heads.
double kept_floats_per_token(const model::ModelSpec& spec, bool cross) {
  const double c = static_cast<double>(spec.d_model);
  double floats = 6.0 * c;
  if (cross) floats += 4.0 * c;
  if (!spec.attention_only) floats += 2.0 * c + 2.0 * static_cast<double>(spec.mlp_ratio) * c;
  return floats;
}

// Without a graph a block holds at most its input, the LayerNorm's output, Q, K, V, the output and
// merged heads at once; in the MLP its input, the residual sum, the [T,RC] input and GELU output.
double live_floats_per_token(const model::ModelSpec& spec) {
  const double mlp = spec.attention_only ? 0.0 : 2.0 + 2.0 * static_cast<double>(spec.mlp_ratio);
  return std::max(7.0, mlp) * static_cast<double>(spec.d_model);
}

struct Pass {
  std::int64_t batch = 0;
  std::int64_t length = 0, source_length = 0;
  bool keeps_graph = true;  // false: no_grad, layers free what they made as they go
};

// What one attention module keeps for the backward pass, and its largest transient, in floats.
struct AttentionFloats {
  double kept = 0.0, transient = 0.0;
};

// The linear path (variants/linear_attention.h) with F features and E = D + 1 value columns (the
// ones column that carries the denominator; D without it). It keeps φ(q) and φ(k), v with its
// ones column and the attended [Tq,E] that the division reads. Causal (Tq = Tk = T), a scan over
// N = T / C chunks of C = min(variant.chunk, T): it also keeps each chunk's state [F,E] and their
// prefix sums, and the within-chunk products [C,C]; its backward pass holds the gradients of the
// states, of their prefix sums and of the within-chunk products at once (so does its forward pass,
// the states before they are summed and the products before they are masked). Bidirectional: one
// state over all keys. Everything grows as T: no term is Tq x Tk.
AttentionFloats linear_attention_floats(const variants::AttentionVariantImpl& variant,
                                        const model::AttentionShape& shape, std::int64_t batch,
                                        std::int64_t heads, std::int64_t chunk) {
  const double bh = static_cast<double>(batch * heads);
  const double tq = static_cast<double>(shape.query_length);
  const double tk = static_cast<double>(shape.key_length);
  const double f = static_cast<double>(variant.score().feature_dim(shape.site.head_dim));
  const double e = static_cast<double>(shape.site.head_dim) +
                   (variant.normaliser().has_denominator() ? 1.0 : 0.0);
  AttentionFloats floats;
  floats.kept = bh * ((tq + tk) * f + tk * e + tq * e);
  if (shape.site.causal) {
    const std::int64_t side = variants::scan_chunk(chunk, shape.query_length);
    const double chunks = static_cast<double>((shape.query_length + side - 1) / side);
    const double tile = static_cast<double>(side * side);
    floats.kept += bh * chunks * (2.0 * f * e + tile);
    floats.transient = bh * chunks * (2.0 * f * e + tile);
  } else {
    floats.kept += bh * f * e;
    floats.transient = 2.0 * bh * f * e;
  }
  return floats;
}

AttentionFloats attention_floats(variants::AttentionVariantImpl& variant,
                                 const model::AttentionShape& shape, variants::AttentionPath path,
                                 const model::ModelSpec& spec, std::int64_t batch,
                                 std::int64_t chunk) {
  const double b = static_cast<double>(batch), h = static_cast<double>(spec.heads);
  const double tq = static_cast<double>(shape.query_length), tk = static_cast<double>(shape.key_length);
  const double c = static_cast<double>(spec.d_model);
  AttentionFloats floats;
  switch (path) {
    case variants::AttentionPath::Fused:
      // Reading the pattern's row blocks builds its Tq x Tk mask; past kLargestMaskRead pairs (a
      // materialise_max raised far beyond its default) a causal half or the full map stands in.
      if (tq * tk <= kLargestMaskRead) {
        floats.kept = b * static_cast<double>(
                              variant.fused_kept_probabilities(shape.query_length, shape.key_length));
      } else {
        floats.kept = b * h * tq * tk * (shape.site.causal ? 0.5 : 1.0);
      }
      break;
    case variants::AttentionPath::Plain:
      // The softmax's output and the masked probabilities; the masked scores beside them at the
      // end of the forward pass, and in the backward pass the gradients of all three.
      floats.kept = 2.0 * b * h * tq * tk;
      floats.transient = 3.0 * b * h * tq * tk;
      break;
    case variants::AttentionPath::Chunked: {
      // Its own [T,C] output and a log-sum-exp per query; tiles of at most chunk x chunk per head.
      const double side = static_cast<double>(std::min(chunk, std::max(shape.query_length, shape.key_length)));
      floats.kept = b * tq * c + b * h * tq;
      floats.transient = 4.0 * b * h * side * side;
      break;
    }
    case variants::AttentionPath::Linear:
      floats = linear_attention_floats(variant, shape, batch, spec.heads, chunk);
      break;
  }
  return floats;
}

struct Context {
  const config::Config& config;
  model::ModelSpec spec;
  torch::TensorOptions inputs;
  std::vector<model::AttentionShape> shapes;
  std::vector<variants::AttentionVariant> variants;  // one per shape
  std::int64_t vocab_outputs = 0;
};

// The floats a pass over `pass.batch` examples keeps (graph) or peaks at (no graph), by path.
struct PassFloats {
  double activations = 0.0, attention = 0.0, transient = 0.0, logits = 0.0;
};

PassFloats pass_floats(Context& context, const Pass& pass, bool force_plain) {
  const auto& spec = context.spec;
  const double b = static_cast<double>(pass.batch);
  const double t = static_cast<double>(pass.length), s = static_cast<double>(pass.source_length);
  const double c = static_cast<double>(spec.d_model);
  const double layers = static_cast<double>(spec.layers);
  PassFloats floats;
  if (pass.keeps_graph) {
    // Every block's tensors, the final LayerNorm's input and output; an encoder's blocks, its
    // final LayerNorm and the keys and values every cross-attention computes from it.
    floats.activations = layers * kept_floats_per_token(spec, spec.has_encoder()) * b * t + 2.0 * b * t * c;
    if (spec.has_encoder()) {
      floats.activations += layers * (kept_floats_per_token(spec, false) + 2.0 * c) * b * s + b * s * c;
    }
  } else {
    floats.activations = live_floats_per_token(spec) * b * std::max(t, s);
  }
  for (std::size_t index = 0; index < context.shapes.size(); ++index) {
    auto shape = context.shapes[index];  // at this pass's lengths
    const std::int64_t chunk = shape.variant.get_int("chunk");
    shape.query_length = shape.kind == "encoder self" ? pass.source_length : pass.length;
    shape.key_length = shape.kind == "self" ? pass.length : pass.source_length;
    const auto path = force_plain ? variants::AttentionPath::Plain
                                  : context.variants[index]->path_for(shape.query_length,
                                                                      shape.key_length, context.inputs);
    const auto attention = attention_floats(*context.variants[index], shape, path, spec, pass.batch, chunk);
    if (pass.keeps_graph) {
      floats.attention += static_cast<double>(shape.modules) * attention.kept;
    } else {
      floats.attention = std::max(floats.attention, attention.kept);  // one module's at a time
    }
    floats.transient = std::max(floats.transient, attention.transient);
  }
  // Logits and their log-softmax; in the backward pass their gradients and the MLP's.
  const double logit_rows = spec.num_classes > 0 ? b : b * t;
  floats.logits = 2.0 * logit_rows * static_cast<double>(context.vocab_outputs);
  if (pass.keeps_graph) {
    const double mlp_gradients =
        spec.attention_only ? 0.0 : 2.0 * static_cast<double>(spec.mlp_ratio) * b * t * c;
    floats.transient = std::max({floats.transient, mlp_gradients, floats.logits});
  }
  return floats;
}

// Whether the estimate is for the host's memory, the one available_memory() reads.
bool on_host(const CostEstimate& estimate) { return torch::Device(estimate.device).is_cpu(); }

// "216.4 MB", "23.4 GB": megabytes up to ten thousand, then gigabytes or terabytes.
std::string format_bytes(double bytes) {
  const double megabytes = bytes / kMegabyte;
  if (megabytes < 1e4) return fmt::format("{:.1f} MB", megabytes);
  if (megabytes < 1e7) return fmt::format("{:.1f} GB", megabytes / 1024.0);
  return fmt::format("{:.1f} TB", megabytes / (1024.0 * 1024.0));
}

MemoryTerm term(std::string name, Phase phase, double floats, std::vector<std::string> keys) {
  return {std::move(name), phase, static_cast<std::int64_t>(floats * kFloat), std::move(keys)};
}

void add_phase(std::vector<MemoryTerm>& terms, Phase phase, const std::string& label,
               const PassFloats& floats, const std::vector<std::string>& keys,
               const std::vector<std::string>& attention_keys) {
  terms.push_back(term(label + " activations", phase, floats.activations, keys));
  if (floats.attention > 0.0) {
    terms.push_back(term(label + " attention", phase, floats.attention, attention_keys));
  }
  terms.push_back(term(label + " logits", phase, floats.logits, keys));
  terms.push_back(term(label + " working set", phase, floats.transient, attention_keys));
}

// Masks and bias tables the plain and fused paths cache per module (the chunked path builds tiles,
// the linear path needs no mask).
double cached_mask_bytes(Context& context) {
  double bytes = 0.0;
  for (std::size_t index = 0; index < context.shapes.size(); ++index) {
    const auto& shape = context.shapes[index];
    auto& variant = *context.variants[index];
    const auto path = variant.path_for(shape.query_length, shape.key_length, context.inputs);
    if (path == variants::AttentionPath::Chunked || path == variants::AttentionPath::Linear) {
      continue;
    }
    const double pairs = static_cast<double>(shape.query_length * shape.key_length);
    bytes += static_cast<double>(shape.modules) * pairs * (1.0 + kFloat);  // bool mask, float table
  }
  return bytes;
}

// What the named terms leave out, measured rather than modelled (test_memory_estimate): the
// allocator's fragmentation and the buffers kept for reuse (experiments/run/allocator_tuning.h),
// autograd's bookkeeping, and what the first step starts (OpenMP's threads, oneDNN's kernels).
// On this project's 2-core machine peak RSS exceeded the named terms by 15-35% of what a phase
// adds and 30-55 MB in all; a share of each phase and a fixed amount stand for it.
constexpr double kUnattributedShare = 0.2;
constexpr double kUnattributedFixed = 32.0 * kMegabyte;

void add_unattributed(std::vector<MemoryTerm>& terms) {
  std::map<Phase, double> phase_bytes;
  for (const auto& item : terms) {
    if (item.phase != Phase::Always) phase_bytes[item.phase] += static_cast<double>(item.bytes);
  }
  for (const auto& [phase, bytes] : phase_bytes) {
    terms.push_back({std::string("allocator and autograd overhead"), phase,
                     static_cast<std::int64_t>(kUnattributedShare * bytes), {}});
  }
}

}  // namespace

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::Always: return "always";
    case Phase::Step: return "training step";
    case Phase::Evaluation: return "validation pass";
    case Phase::Recording: return "recording probe";
  }
  return "?";
}

const MemoryTerm& CostEstimate::largest() const {
  const MemoryTerm* best = &terms.front();
  for (const auto& candidate : terms) {
    const bool counted = candidate.phase == Phase::Always || candidate.phase == peak_phase;
    if (counted && candidate.bytes > best->bytes) best = &candidate;
  }
  return *best;
}

CostEstimate estimate_cost(const config::Config& config) {
  CostEstimate estimate;
  estimate.device = config.get_string("runtime.device");
  const auto task = tasks::make_task(config);
  // Under bf16 autocast q, k and v are bf16, which the fused path does not take.
  const torch::Device device(estimate.device);
  const bool bf16 =
      resolve_precision(config.get_string("train.precision"), device).precision == Precision::BFloat16;
  Context context{config, model::model_spec(config, *task),
                  torch::TensorOptions().dtype(bf16 ? torch::kBFloat16 : torch::kFloat).device(device),
                  {}, {}, task->num_classes() > 0 ? task->num_classes() : task->vocab_size()};
  const auto& spec = context.spec;
  const std::int64_t length = task->sequence_length(), source_length = task->source_length();
  context.shapes = model::attention_shapes(spec, length, source_length);
  for (const auto& shape : context.shapes) {
    context.variants.emplace_back(shape.variant, shape.site);
    const auto path = context.variants.back()->path_for(shape.query_length, shape.key_length,
                                                        context.inputs);
    const std::string preset =
        shape.layer_variant.empty()
            ? std::string()
            : fmt::format(" ({} x{})", shape.layer_variant, shape.modules);
    estimate.attention_paths.push_back(fmt::format("{} {}x{}{}: {}", shape.kind, shape.query_length,
                                                   shape.key_length, preset,
                                                   variants::path_name(path)));
  }

  const std::int64_t batch = config.get_int("train.batch");
  const std::int64_t micro_batch = batch / config.get_int("train.accumulate");
  estimate.parameters = model::parameter_count(spec);
  estimate.tokens_per_step = batch * length;
  estimate.flops_per_step =
      static_cast<double>(batch) * model::training_flops_per_example(spec, length, source_length);
  estimate.flops_per_token = estimate.flops_per_step / static_cast<double>(estimate.tokens_per_step);

  auto& terms = estimate.terms;
  const double p = static_cast<double>(estimate.parameters);
  const std::vector<std::string> model_keys = {"model.d_model", "model.layers", "task.vocab"};
  estimate.resident_bytes = run::current_rss_bytes();
  terms.push_back({"runtime (this process before training)", Phase::Always, estimate.resident_bytes, {}});
  terms.push_back({"first-step start-up (threads, kernels)", Phase::Always,
                   static_cast<std::int64_t>(kUnattributedFixed), {}});
  terms.push_back(term("weights", Phase::Always, p, model_keys));
  terms.push_back(term("gradients", Phase::Always, p, model_keys));
  terms.push_back(term("AdamW moments", Phase::Always, 2.0 * p, model_keys));
  terms.push_back({"cached masks", Phase::Always,
                   static_cast<std::int64_t>(cached_mask_bytes(context)), {"task.length"}});

  const std::vector<std::string> batch_keys = {"train.batch", "train.accumulate", "task.length"};
  const std::vector<std::string> attention_keys = {"train.batch", "train.accumulate", "task.length",
                                                   "variant.materialise_max", "variant.chunk"};
  add_phase(terms, Phase::Step, "step", pass_floats(context, {micro_batch, length, source_length, true}, false),
            batch_keys, attention_keys);
  // The trainer validates with train.batch examples at a time, whatever train.accumulate says.
  add_phase(terms, Phase::Evaluation, "validation",
            pass_floats(context, {batch, length, source_length, false}, false), {"train.batch", "task.length"},
            {"train.batch", "task.length", "variant.materialise_max"});
  if (config.get_int("record.every") > 0) {
    // The probe runs the plain path (it needs the maps) and keeps every module's maps until they
    // are written, half their size again as float16 on the way; with record.importance, its
    // graph (two maps per module) too.
    const std::int64_t samples = config.get_int("record.samples");
    const bool importance = config.get_bool("record.importance");
    auto probe = pass_floats(context, {samples, length, source_length, importance}, true);
    double maps = 0.0;
    for (const auto& shape : context.shapes) {
      maps += static_cast<double>(shape.modules * samples * spec.heads * shape.query_length *
                                  shape.key_length);
    }
    probe.attention = (importance ? probe.attention : maps) + 0.5 * maps;
    const std::vector<std::string> probe_keys = {"record.samples", "task.length",
                                                 "record.every (0: no recording)"};
    add_phase(terms, Phase::Recording, "probe", probe, probe_keys, probe_keys);
  }

  add_unattributed(terms);
  std::int64_t always = 0;
  std::map<Phase, std::int64_t> phases;
  for (const auto& item : terms) {
    if (item.phase == Phase::Always) {
      always += item.bytes;
    } else {
      phases[item.phase] += item.bytes;
    }
  }
  const auto peak = std::max_element(phases.begin(), phases.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; });
  estimate.peak_phase = peak->first;
  estimate.peak_bytes = always + peak->second;
  return estimate;
}

nlohmann::json CostEstimate::to_json() const {
  nlohmann::json memory = nlohmann::json::array();
  for (const auto& item : terms) {
    memory.push_back({{"term", item.name}, {"phase", phase_name(item.phase)}, {"mb", item.bytes / kMegabyte}});
  }
  return {{"parameters", parameters},
          {"flops_per_token", flops_per_token},
          {"flops_per_step", flops_per_step},
          {"device", device},
          {"attention_paths", attention_paths},
          {"memory", memory},
          {"peak_phase", phase_name(peak_phase)},
          {"peak_mb", peak_bytes / kMegabyte}};
}

std::string describe_cost(const CostEstimate& estimate, bool all_terms) {
  std::string text = fmt::format(
      "cost: {} parameters | {:.3g} training FLOPs per token, {:.3g} per step ({} tokens)\n",
      estimate.parameters, estimate.flops_per_token, estimate.flops_per_step,
      estimate.tokens_per_step);
  for (const auto& path : estimate.attention_paths) text += "  attention " + path + "\n";
  text += fmt::format("  peak memory on {} (estimate): {} at the {}\n", estimate.device,
                      format_bytes(estimate.peak_bytes), phase_name(estimate.peak_phase));
  for (const auto& item : estimate.terms) {
    const bool counted = item.phase == Phase::Always || item.phase == estimate.peak_phase;
    if (!counted && !all_terms) continue;
    text += fmt::format("    {:>10}  {:<40} {}{}\n", format_bytes(item.bytes), item.name,
                        phase_name(item.phase), counted ? "" : " (not at the peak)");
  }
  if (!on_host(estimate)) {
    text += "  available: not read for " + estimate.device + " (host memory only so far)\n";
  } else if (const auto available = run::available_memory()) {
    text += fmt::format("  available: {} ({})\n", format_bytes(available->bytes), available->source);
  }
  return text;
}

void check_memory(const CostEstimate& estimate, const config::Config& config,
                  std::int64_t child_processes) {
  if (config.get_bool("runtime.allow_oversubscribe") || !on_host(estimate)) return;
  const auto available = run::available_memory();
  if (!available) return;
  // Run here, the process's own resident set is already in use and part of the peak; run by
  // children, each needs the whole peak beside this process.
  const bool here = child_processes == 0;
  const std::int64_t needed = (here ? 1 : child_processes) * estimate.peak_bytes;
  const std::int64_t usable = available->bytes + (here ? estimate.resident_bytes : 0);
  if (needed <= usable) return;
  const auto& largest = estimate.largest();
  std::string keys;
  for (const auto& key : largest.keys) keys += (keys.empty() ? "" : ", ") + key;
  if (child_processes > 1) keys += (keys.empty() ? "" : ", ") + std::string("fewer --jobs");
  throw config::ConfigError(fmt::format(
      "the run needs an estimated {} of memory at its {}{} but {} are available ({}); the "
      "largest term is {} ({}): lower it with {} (`attnlab config show --cost` lists every "
      "term), or set runtime.allow_oversubscribe=true to run anyway",
      format_bytes(needed), phase_name(estimate.peak_phase),
      child_processes > 1 ? fmt::format(" ({} runs side by side)", child_processes) : std::string(),
      format_bytes(usable), available->source, largest.name, format_bytes(largest.bytes),
      keys.empty() ? "a smaller model" : keys));
}

}  // namespace attnlab::train
