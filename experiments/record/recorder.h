// The attention recorder: a training observer that, at recording steps, runs a fixed probe batch
// through the model, computes per-head statistics from the probabilities of every attention layer
// and appends them (and the maps) to the run's attention.h5.
//
// Recording steps: 0 (the initialisation), every record.every steps, and the last step. The probe
// is record.samples validation examples drawn with its own seeded generator, identical at every
// snapshot. Recording never consumes the global torch RNG and never touches the optimiser's
// gradients, so a run's metrics are the same with recording on or off.
//
// B = probe samples, H = heads, T = sequence length.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "experiments/config/config.h"
#include "experiments/record/dump_writer.h"
#include "experiments/tasks/task.h"
#include "experiments/train/trainer.h"

namespace attnlab::record {

struct RecordSettings {
  std::int64_t every = 0;  // 0: recording off
  std::int64_t samples = 8;
  bool maps = true;
  MapDtype map_dtype = MapDtype::Float16;
  int compression = 0;
  bool importance = true;
  std::uint64_t seed = 0;

  static RecordSettings from_config(const config::Config& config);  // the record.* keys
  bool enabled() const { return every > 0; }
};

// `samples` distinct indices of [0, population), in draw order: a partial Fisher-Yates shuffle
// driven by std::mt19937_64(seed) alone (std:: distributions differ between standard libraries).
std::vector<std::int64_t> draw_probe_indices(std::int64_t population, std::int64_t samples,
                                             std::uint64_t seed);

struct Probe {
  std::vector<std::int64_t> indices;  // [B] validation indices (a user's inputs: 0, 1, ...)
  tasks::Batch batch;                 // inputs [B,T], targets, source
  // A user's inputs (`attnlab probe`): each as given, each token as text ([B*T], "" in padding)
  // and each input's token count; empty for a drawn probe.
  std::vector<std::string> text, token_text;
  std::vector<std::int64_t> lengths;
};
Probe make_probe(const tasks::Task& task, std::int64_t samples, std::uint64_t seed);

// Whether a snapshot is taken after `step` optimiser steps.
bool is_recording_step(std::int64_t step, std::int64_t every, std::int64_t total_steps);

class Recorder : public train::TrainingObserver {
 public:
  // Throws config::ConfigError when the probe cannot be drawn (record.samples > validation set).
  // With `resume`, an existing dump at `dump_path` is continued instead of refused. A `probe`
  // given replaces the drawn one (record.samples and record.seed are then not read).
  Recorder(const config::Config& config, std::filesystem::path dump_path, bool resume,
           std::optional<Probe> probe = std::nullopt);
  ~Recorder() override;

  void on_start(model::Transformer& model, std::int64_t first_step) override;
  void on_step(model::Transformer& model, std::int64_t completed_step, bool last_step) override;
  // Closes the dump and adds "recording" (snapshots, seconds, bytes) to the summary.
  void on_finish(nlohmann::json& summary) override;

  const RecordSettings& settings() const { return settings_; }
  double seconds() const { return seconds_; }

 private:
  struct ProbePass;
  ProbePass run_probe(model::Transformer& model);
  void record(model::Transformer& model, std::int64_t step, ProbePass&& pass);
  DumpLayout layout(model::Transformer& model, const ProbePass& pass) const;

  RecordSettings settings_;
  std::int64_t total_steps_;
  std::string config_toml_;
  std::vector<std::pair<std::string, std::string>> text_attributes_;
  std::filesystem::path dump_path_;
  bool resume_;
  torch::Device device_;
  Probe probe_;
  std::unique_ptr<DumpWriter> writer_;
  double seconds_ = 0.0;
  std::int64_t recorded_ = 0;  // snapshots appended by this process
};

}  // namespace attnlab::record
