// Where a training run starts: at step 0, or (train --resume) from the newest of its checkpoints
// that loads.
#pragma once

#include <string>
#include <vector>

#include <torch/optim/optimizer.h>

#include "experiments/model/transformer.h"
#include "experiments/run/run_dir.h"
#include "experiments/train/checkpoint.h"

namespace attnlab::train {

struct StartingPoint {
  TrainerState state;
  std::vector<std::string> notes;  // for train.log: what was loaded, skipped or missing
};

// The state of a run that starts at step 0.
TrainerState fresh_state();

// Loads the newest checkpoint of `run` that loads into `model` and `optimizer`; a damaged one
// (should an fsync have lied) is skipped. One made for another model stops the resume
// (CheckpointMismatch passes through), and so does a run whose every checkpoint is damaged
// (CheckpointError): starting again at step 0 would discard them. A run without checkpoints
// starts at step 0.
StartingPoint resume_from_checkpoints(const run::RunDir& run, model::Transformer& model,
                                      torch::optim::Optimizer& optimizer,
                                      const std::string& config_toml);

}  // namespace attnlab::train
