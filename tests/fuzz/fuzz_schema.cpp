#include "tests/fuzz/fuzz_schema.h"

#include <stdexcept>
#include <string>

namespace attnlab::fuzz {
namespace {

using config::at_least;
using config::between;
using config::Constraint;
using config::one_of;
using config::positive;
using config::Type;

// Docs are left empty: the fuzz target never prints them.
config::Schema build() {
  config::Schema schema;
  auto add_int = [&](const char* key, std::int64_t value, Constraint constraint = {}) {
    schema.add(key, Type::Int, value, "", std::move(constraint));
  };
  auto add_float = [&](const char* key, double value, Constraint constraint = {}) {
    schema.add(key, Type::Float, value, "", std::move(constraint));
  };
  auto add_string = [&](const char* key, const char* value, Constraint constraint = {}) {
    schema.add(key, Type::String, std::string(value), "", std::move(constraint));
  };
  auto add_bool = [&](const char* key, bool value) { schema.add(key, Type::Bool, value, ""); };

  add_int("seed", 0, at_least(0));
  add_string("experiment.name", "default");
  add_string("experiment.results_dir", "results");

  schema.add_group("model");
  add_string("model.name", "tiny");
  add_string("model.arch", "decoder", one_of({"decoder", "encoder", "encoder_decoder"}));
  add_int("model.d_model", 64, at_least(1));
  add_int("model.layers", 2, at_least(1));
  add_int("model.heads", 4, at_least(1));
  add_int("model.mlp_ratio", 4, at_least(1));
  add_float("model.dropout", 0.0, between(0.0, 0.95));
  add_string("model.positions", "learned", one_of({"learned", "sinusoidal", "none"}));
  add_string("model.pooling", "mean", one_of({"mean", "cls"}));
  add_bool("model.attention_only", false);
  add_string("model.init", "torch", one_of({"torch", "gpt2"}));
  add_float("model.init_std", 0.02, positive());

  schema.add_group("variant");
  add_string("variant.name", "scaled");
  add_string("variant.score", "scaled", one_of({"additive", "dot", "scaled"}));
  add_string("variant.position", "none", one_of({"alibi", "none", "rope"}));
  add_string("variant.pattern", "full", one_of({"bigbird", "full", "local", "strided", "topk"}));
  add_int("variant.chunk", 128, at_least(1));
  add_int("variant.materialise_max", 256, at_least(0));
  add_int("variant.additive_hidden", 32, at_least(1));
  add_int("variant.block", 16, at_least(1));
  add_int("variant.global_blocks", 1, at_least(0));
  add_int("variant.random_blocks", 2, at_least(0));
  add_int("variant.random_seed", 0, at_least(0));
  add_float("variant.rope_base", 10000.0, positive());
  add_float("variant.rope_fraction", 1.0, {0.0, true, 1.0, {}});
  add_int("variant.stride", 16, at_least(1));
  add_int("variant.topk", 8, at_least(1));
  add_int("variant.window", 32, at_least(1));
  add_string("variant.window_sides", "two", one_of({"two", "one"}));

  schema.add_group("task");
  add_string("task.name", "copy");
  add_int("task.seed", 1234, at_least(0));
  add_int("task.vocab", 32, at_least(2));
  add_int("task.length", 16, at_least(1));
  add_int("task.val_examples", 512, at_least(1));
  add_int("task.test_examples", 512, at_least(1));
  add_string("task.path", "/usr/share/common-licenses/GPL-3");
  add_int("task.repeats", 2, at_least(2));
  add_int("task.min_length", 0, at_least(0));
  add_int("task.max_depth", 6, at_least(1));
  add_int("task.max_args", 5, at_least(2));
  add_int("task.kv_pairs", 4, at_least(1));
  add_int("task.kv_pairs_min", 0, at_least(0));
  add_float("task.power_a", 0.01, {0.0, true, 1.0, {}});
  add_bool("task.random_fillers", true);
  add_int("task.marked", 8, at_least(1));
  add_string("task.folder", "");

  schema.add_group("train");
  add_string("train.name", "quick");
  add_int("train.steps", 600, at_least(1));
  add_int("train.batch", 64, at_least(1));
  add_int("train.accumulate", 1, at_least(1));
  add_float("train.lr", 3e-3, positive());
  add_float("train.min_lr_ratio", 0.1, between(0.0, 1.0));
  add_int("train.warmup", 50, at_least(0));
  add_float("train.weight_decay", 0.01, at_least(0.0));
  add_float("train.beta1", 0.9, between(0.0, 0.999999));
  add_float("train.beta2", 0.99, between(0.0, 0.999999));
  add_float("train.eps", 1e-8, positive());
  add_float("train.grad_clip", 1.0, at_least(0.0));
  add_string("train.precision", "fp32", one_of({"fp32", "bf16", "bf16_emulated"}));
  add_int("train.log_every", 20, at_least(1));
  add_int("train.eval_every", 100, at_least(1));
  add_int("train.checkpoint_every", 200, at_least(1));
  add_int("train.keep_checkpoints", 2, at_least(1));

  schema.add("eval.lengths", Type::IntList, std::vector<std::int64_t>{}, "", at_least(1));
  add_int("eval.batch", 0, at_least(0));

  add_int("runtime.threads", 0, at_least(0));
  add_string("runtime.device", "cpu");
  add_string("runtime.progress", "auto", one_of({"auto", "bar", "lines", "none"}));

  add_int("record.every", 25, at_least(0));
  add_int("record.samples", 8, at_least(1));
  add_bool("record.maps", true);
  add_string("record.dtype", "float16", one_of({"float16", "float32"}));
  add_int("record.compression", 0, between(0, 9));
  add_bool("record.importance", true);
  add_int("record.seed", 0, at_least(0));

  schema.add_free_section("extra");

  // The real schema's torch-free checks, and stand-ins for the registries' validation, which
  // throws std::invalid_argument (compose() must turn it into a ConfigError).
  schema.add_check([](const config::Config& config) {
    if (config.get_int("model.d_model") % config.get_int("model.heads") != 0) {
      throw config::ConfigError("model.d_model must be divisible by model.heads");
    }
  });
  schema.add_check([](const config::Config& config) {
    if (config.get_int("train.batch") % config.get_int("train.accumulate") != 0) {
      throw config::ConfigError("train.batch must be divisible by train.accumulate");
    }
  });
  schema.add_check([](const config::Config& config) {
    if (config.get_string("variant.pattern") == "bigbird" &&
        config.get_int("task.length") % config.get_int("variant.block") != 0) {
      throw std::invalid_argument("bigbird: variant.block must divide the key length");
    }
  });
  schema.add_check([](const config::Config& config) {
    if (config.get_int("record.every") != 0 &&
        config.get_int("record.samples") > config.get_int("task.val_examples")) {
      throw config::ConfigError("record.samples exceeds the validation set");
    }
  });
  return schema;
}

}  // namespace

const config::Schema& representative_schema() {
  static const config::Schema schema = build();
  return schema;
}

}  // namespace attnlab::fuzz
