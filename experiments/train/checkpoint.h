// Checkpoints: model, optimiser, RNG state, step and the trainer's running counters, with the
// resolved config, in one file written atomically (checkpoints/step-00000200.pt; best.pt apart).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include "experiments/train/step_sums.h"

namespace attnlab::train {

struct TrainerState {
  std::int64_t step = 0;                    // optimiser steps completed
  StepSums window;                          // train-metric sums since the last log row
  double best_val_loss = 0.0;
  std::int64_t best_step = -1;
  double train_seconds = 0.0;               // training wall time so far (for tokens/s)
  std::int64_t skipped_steps = 0;           // steps skipped for non-finite gradients
};

void save_checkpoint(const std::filesystem::path& path, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, const TrainerState& state,
                     const std::string& config_toml);

// Loads into `model` and `optimizer` (either may be null to skip). Throws CheckpointError naming
// the file and what does not match. `expected_config` (the TOML the model was built from): when
// the weights do not fit the model, the message names the model, variant and task keys in which
// the checkpoint's own config differs from it.
TrainerState load_checkpoint(const std::filesystem::path& path, torch::nn::Module* model,
                             torch::optim::Optimizer* optimizer,
                             const std::string& expected_config = {});

// "model.d_model = 128 in the checkpoint, 64 here; ..." for the model, variant and task keys
// whose values differ between two resolved configs (TOML text); empty when none does.
std::string architecture_difference(const std::string& checkpoint_config,
                                    const std::string& expected_config);

class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The checkpoint is readable but made for another model: no older checkpoint of the same run can
// be better, so a resume stops on it rather than trying the next one. The model keeps its
// weights.
class CheckpointMismatch : public CheckpointError {
 public:
  using CheckpointError::CheckpointError;
};

std::filesystem::path step_checkpoint_path(const std::filesystem::path& directory,
                                           std::int64_t step);
// Step checkpoints in a directory, newest first.
std::vector<std::filesystem::path> step_checkpoints(const std::filesystem::path& directory);
// The checkpoint a command asked for: "best" (best.pt, or the newest step checkpoint when there is
// none), "latest" (the newest step checkpoint), or a file. Throws CheckpointError when none exists.
std::filesystem::path find_checkpoint(const std::filesystem::path& directory,
                                      const std::string& which);
// Keeps the newest `keep` step checkpoints.
void prune_checkpoints(const std::filesystem::path& directory, std::int64_t keep);

}  // namespace attnlab::train
