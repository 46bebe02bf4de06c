#include "experiments/train/resume.h"

#include <limits>

#include <fmt/format.h>

namespace attnlab::train {

TrainerState fresh_state() {
  TrainerState state;
  state.best_val_loss = std::numeric_limits<double>::infinity();
  return state;
}

StartingPoint resume_from_checkpoints(const run::RunDir& run, model::Transformer& model,
                                      torch::optim::Optimizer& optimizer,
                                      const std::string& config_toml) {
  StartingPoint start{fresh_state(), {}};
  const auto checkpoints = step_checkpoints(run.checkpoints());
  for (const auto& path : checkpoints) {
    try {
      start.state = load_checkpoint(path, model.ptr().get(), &optimizer, config_toml);
      start.notes.push_back(fmt::format("resumed from {} (step {})", path.string(),
                                        start.state.step));
      return start;
    } catch (const CheckpointMismatch&) {
      throw;
    } catch (const CheckpointError& error) {
      start.notes.push_back(fmt::format("skipping {}", error.what()));
    }
  }
  if (!checkpoints.empty()) {
    std::string notes;
    for (const auto& note : start.notes) notes += "\n  " + note;
    throw CheckpointError("none of the run's checkpoints loads; not starting it again from step "
                          "0 over them:" + notes);
  }
  start.notes.push_back("no checkpoint to resume from: starting at step 0");
  return start;
}

}  // namespace attnlab::train
