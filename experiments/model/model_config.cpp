#include "experiments/model/model_config.h"

#include "experiments/run/schema.h"

namespace attnlab::model {

ModelSpec model_spec(const config::Config& config, const tasks::Task& task) {
  ModelSpec spec;
  spec.arch = config.get_string("model.arch");
  spec.vocab_size = task.vocab_size();
  spec.max_length = task.sequence_length();
  spec.max_source_length = task.source_length();
  spec.num_classes = task.num_classes();
  spec.d_model = config.get_int("model.d_model");
  spec.layers = config.get_int("model.layers");
  spec.heads = config.get_int("model.heads");
  spec.mlp_ratio = config.get_int("model.mlp_ratio");
  spec.dropout = config.get_float("model.dropout");
  spec.positions = config.get_string("model.positions");
  spec.attention_only = config.get_bool("model.attention_only");
  spec.init = config.get_string("model.init");
  spec.init_std = config.get_float("model.init_std");
  spec.variant = run::variant_options(config);
  return spec;
}

}  // namespace attnlab::model
