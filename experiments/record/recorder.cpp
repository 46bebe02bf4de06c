#include "experiments/record/recorder.h"

#include <chrono>
#include <numeric>
#include <optional>
#include <random>
#include <utility>

#include <ATen/Parallel.h>
#include <torch/utils.h>

#include "dump/dump_schema.h"
#include "experiments/model/eval_mode.h"
#include "experiments/record/head_statistics.h"
#include "experiments/run/system_info.h"
#include "experiments/train/head_importance.h"
#include "experiments/train/objective.h"
#include "variants/map_kind.h"

namespace attnlab::record {

RecordSettings RecordSettings::from_config(const config::Config& config) {
  RecordSettings settings;
  settings.every = config.get_int("record.every");
  settings.samples = config.get_int("record.samples");
  settings.maps = config.get_bool("record.maps");
  settings.map_dtype = parse_map_dtype(config.get_string("record.dtype"));
  settings.compression = static_cast<int>(config.get_int("record.compression"));
  settings.importance = config.get_bool("record.importance");
  settings.seed = static_cast<std::uint64_t>(config.get_int("record.seed"));
  return settings;
}

std::vector<std::int64_t> draw_probe_indices(std::int64_t population, std::int64_t samples,
                                             std::uint64_t seed) {
  if (samples < 1 || samples > population) {
    throw config::ConfigError("record.samples = " + std::to_string(samples) +
                              " must be between 1 and the validation set's size, " +
                              std::to_string(population));
  }
  std::vector<std::int64_t> pool(static_cast<std::size_t>(population));
  std::iota(pool.begin(), pool.end(), std::int64_t{0});
  std::mt19937_64 engine(seed);
  for (std::int64_t drawn = 0; drawn < samples; ++drawn) {
    const auto remaining = static_cast<std::uint64_t>(population - drawn);
    const auto pick = drawn + static_cast<std::int64_t>(engine() % remaining);
    std::swap(pool[static_cast<std::size_t>(drawn)], pool[static_cast<std::size_t>(pick)]);
  }
  pool.resize(static_cast<std::size_t>(samples));
  return pool;
}

Probe make_probe(const tasks::Task& task, std::int64_t samples, std::uint64_t seed) {
  Probe probe;
  probe.indices = draw_probe_indices(task.split_size(tasks::Split::Val), samples, seed);
  std::vector<torch::Tensor> inputs, targets, sources;
  for (const auto index : probe.indices) {
    auto example = task.examples(tasks::Split::Val, index, 1);
    inputs.push_back(example.inputs);
    targets.push_back(example.targets);
    if (example.source.defined()) sources.push_back(example.source);
  }
  probe.batch.inputs = torch::cat(inputs);    // [B,T]
  probe.batch.targets = torch::cat(targets);  // [B,T] or [B]
  if (!sources.empty()) probe.batch.source = torch::cat(sources);  // [B,S]
  return probe;
}

bool is_recording_step(std::int64_t step, std::int64_t every, std::int64_t total_steps) {
  return every > 0 && (step % every == 0 || step == total_steps);
}

namespace {

using Clock = std::chrono::steady_clock;

IntArray int_array(const torch::Tensor& tensor) {
  IntArray array;
  if (!tensor.defined()) return array;
  const auto values = tensor.to(torch::kCPU, torch::kLong).contiguous();
  array.shape.assign(values.sizes().begin(), values.sizes().end());
  array.values.assign(values.data_ptr<std::int64_t>(),
                      values.data_ptr<std::int64_t>() + values.numel());
  return array;
}

// The part of the model attention module `index` (forward order) belongs to: attention_layers()
// lists an encoder-decoder model's encoder modules first, model.layers of them.
dump::LayerRole layer_role(const model::ModelSpec& spec, const variants::AttentionSite& site,
                           std::size_t index) {
  if (site.cross) return dump::LayerRole::Cross;
  const bool encoder = spec.arch == "encoder" ||
                       (spec.has_encoder() && static_cast<std::int64_t>(index) < spec.layers);
  return encoder ? dump::LayerRole::EncoderSelf : dump::LayerRole::DecoderSelf;
}

std::vector<float> floats(const torch::Tensor& tensor) {
  const auto values = tensor.to(torch::kCPU, torch::kFloat).contiguous();
  return {values.data_ptr<float>(), values.data_ptr<float>() + values.numel()};
}

// Runs the recorder's work on one intra-op thread and restores the count: its tensors are small,
// and waking a team of threads for each of its many small operations costs more than it saves
// (much more on a busy machine).
class SingleThread {
 public:
  SingleThread() : threads_(at::get_num_threads()) { at::set_num_threads(1); }
  ~SingleThread() { at::set_num_threads(threads_); }
  SingleThread(const SingleThread&) = delete;
  SingleThread& operator=(const SingleThread&) = delete;

 private:
  int threads_;
};

}  // namespace

struct Recorder::ProbePass {
  model::AttentionTap tap;
  double loss = 0.0;
  std::vector<torch::Tensor> importance;  // per layer [H] float64, when recorded
};

Recorder::Recorder(const config::Config& config, std::filesystem::path dump_path, bool resume,
                   std::optional<Probe> probe)
    : settings_(RecordSettings::from_config(config)),
      total_steps_(config.get_int("train.steps")),
      config_toml_(config.to_toml()),
      dump_path_(std::move(dump_path)),
      resume_(resume),
      device_(config.get_string("runtime.device")) {
  text_attributes_ = {{dump::kAttributeAttnlabVersion, run::attnlab_version()},
                      {dump::kAttributeGitCommit, run::git_commit()},
                      {dump::kAttributeConfig, config_toml_},
                      {dump::kAttributeExperiment, config.get_string("experiment.name")},
                      {dump::kAttributeVariant, config.get_string("variant.name")},
                      {dump::kAttributeTask, config.get_string("task.name")},
                      {dump::kAttributeArch, config.get_string("model.arch")}};
  if (probe) {
    probe_ = std::move(*probe);
  } else {
    probe_ = make_probe(*tasks::make_task(config), settings_.samples, settings_.seed);
  }
}

Recorder::~Recorder() = default;

// One pass of the probe in eval mode gives the maps (through the tap), the probe's loss and,
// with record.importance, the head importances I_h = mean over examples of |dL(x)/d xi_h|
// (Michel et al. 2019; experiments/train/head_importance.h): gates xi = 1 of shape [B,H] give
// per-example gradients in one backward pass, and gating by 1 changes no value. Gradients go to
// the gates only (autograd::grad), so the parameters' .grad, which the optimiser owns, stay as
// they are.
Recorder::ProbePass Recorder::run_probe(model::Transformer& model) {
  model::EvalMode eval(model);
  auto layers = model->attention_layers();
  const auto samples = probe_.batch.inputs.size(0);
  const auto targets = probe_.batch.targets.to(device_);  // [B,T] or [B]
  const auto weights = train::example_weights(probe_.batch.targets);  // [B]
  const auto examples = weights.gt(0).sum().item<std::int64_t>();
  const bool importance = settings_.importance && examples > 0;
  // Without importance no graph is needed.
  torch::AutoGradMode grad_mode(/*enabled=*/importance);
  std::optional<train::HeadGates> gates;
  if (importance) gates.emplace(layers, samples, device_);
  ProbePass pass;
  const auto source =
      probe_.batch.source.defined() ? probe_.batch.source.to(device_) : probe_.batch.source;
  const auto logits = model->forward(probe_.batch.inputs.to(device_), &pass.tap, source);
  const auto loss = train::objective(logits, targets).loss;
  pass.loss = loss.item<double>();
  TORCH_CHECK(pass.tap.captures.size() == layers.size(),
              "the model reported ", pass.tap.captures.size(), " attention captures for ",
              layers.size(), " attention layers: the recorder pairs them in forward order");
  for (std::size_t index = 0; index < layers.size(); ++index) {
    TORCH_CHECK(pass.tap.captures[index].layer == layers[index]->site().layer,
                "attention capture ", index, " comes from layer ",
                pass.tap.captures[index].layer, ", expected ", layers[index]->site().layer);
  }
  if (settings_.importance) {
    std::vector<torch::Tensor> sums;  // per layer [H]: sum over examples of |dL(x)/d xi_h|
    if (importance) sums = train::gate_gradient_sums(loss, *gates, weights);
    for (std::size_t layer = 0; layer < layers.size(); ++layer) {
      pass.importance.push_back(
          importance ? sums[layer] / static_cast<double>(examples)
                     : torch::zeros({layers[layer]->heads()}, torch::kDouble));  // [H]
    }
  }
  return pass;
}

DumpLayout Recorder::layout(model::Transformer& model, const ProbePass& pass) const {
  DumpLayout layout;
  layout.samples = static_cast<std::int64_t>(probe_.indices.size());
  layout.maps = settings_.maps;
  layout.map_dtype = settings_.map_dtype;
  layout.compression = settings_.compression;
  layout.importance = settings_.importance;
  layout.probe_indices.shape = {static_cast<std::int64_t>(probe_.indices.size())};
  layout.probe_indices.values = probe_.indices;
  layout.probe_tokens = int_array(probe_.batch.inputs);
  layout.probe_targets = int_array(probe_.batch.targets);
  layout.probe_source = int_array(probe_.batch.source);
  if (!probe_.lengths.empty()) {
    layout.probe_lengths = {{static_cast<std::int64_t>(probe_.lengths.size())}, probe_.lengths};
  }
  layout.probe_text = probe_.text;
  layout.probe_token_text = probe_.token_text;
  layout.text_attributes = text_attributes_;
  layout.int_attributes = {{dump::kAttributeRecordEvery, settings_.every},
                           {dump::kAttributeRecordSeed, static_cast<std::int64_t>(settings_.seed)}};
  auto layers = model->attention_layers();
  for (std::size_t index = 0; index < layers.size(); ++index) {
    const auto& probs = pass.tap.captures[index].probs;  // [B,H,Tq,Tk]
    LayerLayout layer;
    layer.index = static_cast<std::int64_t>(index);
    layer.kind = pass.tap.captures[index].kind;
    layer.role = layer_role(model->spec(), layers[index]->site(), index);
    layer.causal = layers[index]->site().causal;
    layer.heads = probs.size(1);
    layer.query_length = probs.size(2);
    layer.key_length = probs.size(3);
    layer.map_kind = variants::map_kind_name(pass.tap.captures[index].map_kind);
    const auto counts = allowed_key_counts(layers[index]->allowed(layer.query_length,
                                                                  layer.key_length),
                                           layer.heads, layer.query_length, layer.key_length);
    layer.allowed_keys.assign(counts.data_ptr<std::int32_t>(),
                              counts.data_ptr<std::int32_t>() + counts.numel());
    layout.layers.push_back(std::move(layer));
  }
  return layout;
}

void Recorder::on_start(model::Transformer& model, std::int64_t first_step) {
  if (!settings_.enabled()) return;
  const auto start = Clock::now();
  SingleThread single_thread;
  auto pass = run_probe(model);
  const auto dump_layout = layout(model, pass);
  if (resume_ && std::filesystem::exists(dump_path_)) {
    // The model is at `first_step` (its checkpoint); snapshots after it are redone.
    writer_ = DumpWriter::resume(dump_path_, dump_layout, first_step);
  } else {
    writer_ = DumpWriter::create(dump_path_, dump_layout);
  }
  const auto& steps = writer_->steps();
  const bool recorded = !steps.empty() && steps.back() == first_step;
  if (is_recording_step(first_step, settings_.every, total_steps_) && !recorded) {
    record(model, first_step, std::move(pass));
  }
  seconds_ += std::chrono::duration<double>(Clock::now() - start).count();
}

void Recorder::on_step(model::Transformer& model, std::int64_t completed_step, bool last_step) {
  if (!writer_) return;
  if (!last_step && !is_recording_step(completed_step, settings_.every, total_steps_)) return;
  const auto start = Clock::now();
  SingleThread single_thread;
  record(model, completed_step, run_probe(model));
  seconds_ += std::chrono::duration<double>(Clock::now() - start).count();
}

void Recorder::record(model::Transformer& model, std::int64_t step, ProbePass&& pass) {
  auto layers = model->attention_layers();

  Snapshot snapshot;
  snapshot.step = step;
  snapshot.probe_loss = pass.loss;
  std::vector<torch::Tensor> keep_alive;  // map buffers the writer reads
  for (std::size_t index = 0; index < layers.size(); ++index) {
    const auto& capture = pass.tap.captures[index];
    const auto probs = capture.probs.to(torch::kCPU);  // [B,H,Tq,Tk]
    const auto allowed = allowed_key_counts(layers[index]->allowed(probs.size(2), probs.size(3)),
                                            probs.size(1), probs.size(2), probs.size(3));  // [H,Tq]
    LayerSnapshot layer;
    if (settings_.maps) {
      keep_alive.push_back(
          probs.to(settings_.map_dtype == MapDtype::Float16 ? torch::kHalf : torch::kFloat)
              .contiguous());
      layer.maps = keep_alive.back().data_ptr();
    }
    const auto maps = map_statistics(probs, allowed, capture.map_kind);
    const auto norms = output_norms(probs, capture.values,
                                    layers[index]->output_projection()->weight, allowed);
    auto& stats = layer.statistics;
    stats[dump::kEntropy] = floats(maps.entropy);
    stats[dump::kEntropyNormalised] = floats(maps.entropy_normalised);
    stats[dump::kConfidence] = floats(maps.confidence);
    stats[dump::kDistance] = floats(maps.distance);
    stats[dump::kSinkMass] = floats(maps.sink_mass);
    stats[dump::kSelfMass] = floats(maps.self_mass);
    stats[dump::kPreviousMass] = floats(maps.previous_mass);
    stats[dump::kNextMass] = floats(maps.next_mass);
    stats[dump::kK90] = floats(maps.k90);
    stats[dump::kRowMass] = floats(maps.row_mass);
    stats[dump::kRowAbsMass] = floats(maps.row_abs_mass);
    stats[dump::kOutputNorm] = floats(norms.per_head);
    stats[dump::kEntropyPerQuery] = floats(maps.entropy_per_query);
    stats[dump::kConfidencePerQuery] = floats(maps.confidence_per_query);
    stats[dump::kDistancePerQuery] = floats(maps.distance_per_query);
    stats[dump::kK90PerQuery] = floats(maps.k90_per_query);
    stats[dump::kOutputNormPerQuery] = floats(norms.per_query);
    stats[dump::kValueNorms] = floats(norms.value_norms);
    if (settings_.importance) {
      const auto& raw = pass.importance[index];  // [H]
      stats[dump::kImportance] = floats(raw);
      stats[dump::kImportanceNormalised] = floats(train::normalise_importance(raw));
    }
    snapshot.layers.push_back(std::move(layer));
  }
  writer_->append(snapshot);
  ++recorded_;
}

void Recorder::on_finish(nlohmann::json& summary) {
  if (!writer_) return;
  const auto start = Clock::now();
  writer_->close();
  seconds_ += std::chrono::duration<double>(Clock::now() - start).count();
  summary["recording"] = {{"file", writer_->path().string()},
                          {"snapshots", writer_->steps().size()},
                          {"snapshots_recorded", recorded_},
                          {"every", settings_.every},
                          {"seconds", seconds_},
                          {"map_bytes", writer_->map_bytes_written()},
                          {"file_bytes", writer_->file_bytes()}};
}

}  // namespace attnlab::record
