#include "experiments/train/train_settings.h"

#include "experiments/run/schema.h"

namespace attnlab::train {

TrainSettings train_settings(const config::Config& config) {
  TrainSettings settings;
  settings.experiment = config.get_string("experiment.name");
  settings.task = config.get_string("task.name");
  settings.variant = config.get_string("variant.name");
  settings.model = config.get_string("model.name");
  settings.seed = config.get_int("seed");

  settings.device = torch::Device(config.get_string("runtime.device"));
  settings.threads = run::resolve_threads(config);
  settings.precision = resolve_precision(config.get_string("train.precision"), settings.device);
  settings.progress = config.get_string("runtime.progress");

  settings.steps = config.get_int("train.steps");
  settings.batch = config.get_int("train.batch");
  settings.micro_batches = config.get_int("train.accumulate");
  settings.micro_batch = settings.batch / settings.micro_batches;

  settings.log_every = config.get_int("train.log_every");
  settings.eval_every = config.get_int("train.eval_every");
  settings.checkpoint_every = config.get_int("train.checkpoint_every");
  settings.keep_checkpoints = config.get_int("train.keep_checkpoints");

  settings.adamw = adamw_settings(config);
  settings.schedule = {config.get_float("train.lr"), config.get_float("train.min_lr_ratio"),
                       config.get_int("train.warmup"), settings.steps};
  settings.grad_clip = config.get_float("train.grad_clip");
  settings.skips_allowed = config.get_int("train.skip_nonfinite");
  settings.config_toml = config.to_toml();
  return settings;
}

}  // namespace attnlab::train
