#include "experiments/run/schema.h"

#include <sched.h>
#include <thread>

#include <optional>

#include <c10/core/Device.h>
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "experiments/model/model_config.h"
#include "experiments/tasks/task.h"
#include "variants/attention_variant.h"

#ifndef ATTNLAB_CONFIG_DIR
#error "ATTNLAB_CONFIG_DIR must be defined by the build"
#endif

namespace attnlab::run {
namespace {

using config::at_least;
using config::between;
using config::Constraint;
using config::one_of;
using config::positive;
using config::Type;

// Variant and task parts declare their options in their own files; they become config keys here.
void add_option(config::Schema& schema, const std::string& section,
                const attnlab::OptionSpec& option) {
  const std::string key = section + "." + option.name;
  if (schema.find(key) != nullptr) return;  // several parts may share an option (e.g. window)
  Constraint constraint{option.min, option.min_exclusive, option.max, option.choices};
  std::visit(
      [&](const auto& value) {
        using Held = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<Held, bool>) {
          schema.add(key, Type::Bool, value, option.doc, constraint);
        } else if constexpr (std::is_same_v<Held, std::int64_t>) {
          schema.add(key, Type::Int, value, option.doc, constraint);
        } else if constexpr (std::is_same_v<Held, double>) {
          schema.add(key, Type::Float, value, option.doc, constraint);
        } else {
          schema.add(key, Type::String, value, option.doc, constraint);
        }
      },
      option.default_value);
}

// Turns errors of the variant and task registries into config errors (exit code 2).
template <typename Check>
void as_config_error(Check&& check) {
  try {
    check();
  } catch (const std::invalid_argument& error) {
    throw config::ConfigError(error.what());
  } catch (const c10::Error& error) {
    throw config::ConfigError(error.what_without_backtrace());
  }
}

// runtime.device must parse as a device attnlab runs on; whether this build and machine have it
// is checked by the commands that use it (run/preflight.h): a run made on a GPU can still be
// exported, or its sweep submitted, from a machine without one.
void check_device(const config::Config& config) {
  const std::string text = config.get_string("runtime.device");
  std::optional<torch::Device> device;
  try {
    device.emplace(text);
  } catch (const c10::Error&) {
  }
  if (!device || !(device->is_cpu() || device->is_cuda())) {
    throw config::ConfigError("runtime.device = '" + text + "': attnlab runs on cpu or cuda[:N]");
  }
}

// A name that becomes a folder under experiment.results_dir must stay one folder there.
void check_folder_name(const config::Config& config, const std::string& key) {
  const std::string name = config.get_string(key);
  std::string shown;
  bool printable = true;
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      printable = false;
      shown += fmt::format("\\x{:02x}", byte);
    } else {
      shown += c;
    }
  }
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      !printable) {
    throw config::ConfigError(key + " = '" + shown +
                              "' names a folder under experiment.results_dir: it must be one "
                              "folder name (not empty, not '.' or '..', no '/', no control "
                              "characters)");
  }
}

void add_experiment_keys(config::Schema& schema) {
  schema.add("seed", Type::Int, std::int64_t{0},
             "seed of initialisation and training-data order (val/test data use task.seed)",
             at_least(0));
  schema.add("experiment.name", Type::String, std::string("default"),
             "runs land in <experiment.results_dir>/<experiment.name>/");
  schema.add("experiment.results_dir", Type::String, std::string("results"),
             "root folder of run directories (relative to the working directory)");
}

void add_model_keys(config::Schema& schema) {
  schema.add_group("model");
  schema.add("model.name", Type::String, std::string("tiny"), "model preset (group option)");
  schema.add("model.arch", Type::String, std::string("decoder"),
             "decoder: causal LM; encoder: bidirectional (per-token or pooled classification); "
             "encoder_decoder: bidirectional encoder, causal decoder with cross-attention",
             one_of({"decoder", "encoder", "encoder_decoder"}));
  schema.add("model.d_model", Type::Int, std::int64_t{64}, "width of the residual stream",
             at_least(1));
  schema.add("model.layers", Type::Int, std::int64_t{2}, "number of transformer blocks",
             at_least(1));
  schema.add("model.heads", Type::Int, std::int64_t{4}, "attention heads per layer", at_least(1));
  schema.add("model.mlp_ratio", Type::Int, std::int64_t{4}, "MLP hidden width / d_model",
             at_least(1));
  schema.add("model.dropout", Type::Float, 0.0, "dropout on attention/MLP outputs and embeddings",
             between(0.0, 0.95));
  schema.add("model.positions", Type::String, std::string("learned"),
             "absolute positions added at the input", one_of({"learned", "sinusoidal", "none"}));
  schema.add("model.pooling", Type::String, std::string("mean"),
             "sequence classification: mean (the mean over positions) or cls (a classification "
             "token in front of every input; the head reads its final state, as BERT and LRA)",
             one_of({"mean", "cls"}));
  schema.add("model.attention_only", Type::Bool, false,
             "drop the MLP sublayers (attention-only circuits)");
  schema.add("model.init", Type::String, std::string("torch"),
             "weight initialisation: torch (PyTorch's per-module defaults, as a PyTorch script "
             "gets) or gpt2 (N(0, model.init_std), residual projections scaled by "
             "1/sqrt(2 layers))",
             one_of({"torch", "gpt2"}));
  schema.add("model.init_std", Type::Float, 0.02, "std of the gpt2 weight initialisation",
             positive());
}

void add_variant_keys(config::Schema& schema) {
  schema.add_group("variant");
  schema.add("variant.name", Type::String, std::string("scaled"),
             "variant preset (group option); names the run in comparisons");
  for (const auto& option : variants::all_option_specs()) add_option(schema, "variant", option);
  schema.add_option_list(
      "model.layer_variants", "variant", model::kLayerVariantTables,
      "variant preset of each block, for hybrid stacks (e.g. [local,local,scaled]): block i uses "
      "variant.* with preset i's keys laid over them (copied into layer_variant.<preset>.*); "
      "encoder_decoder: block i's self-attention in both stacks and its cross-attention; "
      "[]: every block uses variant.*");
}

void add_task_keys(config::Schema& schema) {
  schema.add_group("task");
  schema.add("task.name", Type::String, std::string("copy"), "benchmark task (task registry)");
  schema.add("task.seed", Type::Int, std::int64_t{1234},
             "seed of the task's data; val/test sets depend on it only", at_least(0));
  schema.add("task.vocab", Type::Int, std::int64_t{32}, "vocabulary size, special tokens included",
             at_least(2));
  schema.add("task.length", Type::Int, std::int64_t{16},
             "content length of an example (the task defines how it maps to T)", at_least(1));
  schema.add("task.val_examples", Type::Int, std::int64_t{512}, "size of the validation split",
             at_least(1));
  schema.add("task.test_examples", Type::Int, std::int64_t{512}, "size of the test split",
             at_least(1));
  for (const auto* entry : tasks::task_registry().entries()) {
    for (const auto& option : entry->options) add_option(schema, "task", option);
  }
}

void add_optimiser_keys(config::Schema& schema) {
  schema.add("train.lr", Type::Float, 3e-3, "peak learning rate", positive());
  schema.add("train.min_lr_ratio", Type::Float, 0.1, "final lr of the cosine decay / peak lr",
             between(0.0, 1.0));
  schema.add("train.warmup", Type::Int, std::int64_t{50}, "linear warm-up steps", at_least(0));
  schema.add("train.weight_decay", Type::Float, 0.01,
             "AdamW decoupled weight decay (matrices only)", at_least(0.0));
  schema.add("train.beta1", Type::Float, 0.9, "AdamW beta1", between(0.0, 0.999999));
  schema.add("train.beta2", Type::Float, 0.99, "AdamW beta2", between(0.0, 0.999999));
  schema.add("train.eps", Type::Float, 1e-8, "AdamW epsilon", positive());
  schema.add("train.grad_clip", Type::Float, 1.0, "clip the global gradient norm (0: off)",
             at_least(0.0));
}

// The train section: budget and batch, the optimiser's keys, then numerics and cadences.
void add_train_keys(config::Schema& schema) {
  schema.add_group("train");
  schema.add("train.name", Type::String, std::string("quick"), "training preset (group option)");
  schema.add("train.steps", Type::Int, std::int64_t{600}, "optimiser steps (the budget)",
             at_least(1));
  schema.add("train.batch", Type::Int, std::int64_t{64}, "examples per optimiser step",
             at_least(1));
  schema.add("train.accumulate", Type::Int, std::int64_t{1},
             "micro-batches per step (train.batch is split into this many)", at_least(1));
  add_optimiser_keys(schema);
  schema.add("train.skip_nonfinite", Type::Int, std::int64_t{0},
             "steps whose gradients are not finite to skip (no update; each named in train.log, "
             "counted in summary.json) before stopping the run; 0: stop at the first",
             at_least(0.0));
  schema.add("train.precision", Type::String, std::string("fp32"),
             "fp32 | bf16 (autocast where the CPU has bf16 matrix instructions, else fp32 with a "
             "warning) | bf16_emulated (bf16 even without them: slow, for checking numerics)",
             one_of({"fp32", "bf16", "bf16_emulated"}));
  schema.add("train.log_every", Type::Int, std::int64_t{20}, "steps between train metric rows",
             at_least(1));
  schema.add("train.eval_every", Type::Int, std::int64_t{100},
             "steps between validation passes (and at the last step)", at_least(1));
  schema.add("train.checkpoint_every", Type::Int, std::int64_t{200},
             "steps between checkpoints (and at the last step)", at_least(1));
  schema.add("train.keep_checkpoints", Type::Int, std::int64_t{2},
             "step checkpoints kept (best.pt is kept apart)", at_least(1));
}

void add_eval_keys(config::Schema& schema) {
  schema.add("eval.lengths", Type::IntList, std::vector<std::int64_t>{},
             "task.length values at which `attnlab eval` also evaluates (length generalisation)",
             at_least(1));
  schema.add("eval.batch", Type::Int, std::int64_t{0},
             "evaluation batch size (0: train.batch)", at_least(0));
}

void add_runtime_keys(config::Schema& schema) {
  schema.add("runtime.threads", Type::Int, std::int64_t{0},
             "intra-op threads (0: every core this process may use)", at_least(0));
  schema.add("runtime.device", Type::String, std::string("cpu"),
             "torch device, e.g. cpu or cuda:0");
  schema.add("runtime.allow_oversubscribe", Type::Bool, false,
             "train even when the estimated peak memory (attnlab config show --cost) exceeds "
             "what is available");
  schema.add("runtime.progress", Type::String, std::string("auto"),
             "auto: a bar on a terminal, lines otherwise",
             one_of({"auto", "bar", "lines", "none"}));
}

// Attention recording (experiments/record): a probe batch at recording steps -> attention.h5.
void add_record_keys(config::Schema& schema) {
  schema.add("record.every", Type::Int, std::int64_t{25},
             "steps between attention snapshots (plus step 0 and the last step); 0: no recording",
             at_least(0));
  schema.add("record.samples", Type::Int, std::int64_t{8},
             "validation examples in the fixed probe batch", at_least(1));
  schema.add("record.maps", Type::Bool, true,
             "store the attention maps (false: per-head statistics only)");
  schema.add("record.dtype", Type::String, std::string("float16"), "dtype of the stored maps",
             one_of({"float16", "float32"}));
  schema.add("record.compression", Type::Int, std::int64_t{0},
             "gzip level of the maps, with byte shuffling (0: none; 1 halves the file, but the "
             "writer drops from ~700 to ~60 MB/s)",
             between(0, 9));
  schema.add("record.importance", Type::Bool, true,
             "head importance |dL/d gate| (Michel et al. 2019): one backward pass per probe "
             "example");
  schema.add("record.seed", Type::Int, std::int64_t{0}, "seed of the probe's example draw",
             at_least(0));
}

void check_heads_divide_width(const config::Config& config) {
  if (config.get_int("model.d_model") % config.get_int("model.heads") != 0) {
    throw config::ConfigError("model.d_model = " + std::to_string(config.get_int("model.d_model")) +
                              " must be divisible by model.heads = " +
                              std::to_string(config.get_int("model.heads")));
  }
}

void check_micro_batches_divide_batch(const config::Config& config) {
  if (config.get_int("train.batch") % config.get_int("train.accumulate") != 0) {
    throw config::ConfigError("train.batch = " + std::to_string(config.get_int("train.batch")) +
                              " must be divisible by train.accumulate = " +
                              std::to_string(config.get_int("train.accumulate")));
  }
}

void check_probe_fits_validation(const config::Config& config) {
  if (config.get_int("record.every") == 0) return;
  const auto validation = tasks::make_task(config)->split_size(tasks::Split::Val);
  if (config.get_int("record.samples") > validation) {
    throw config::ConfigError("record.samples = " +
                              std::to_string(config.get_int("record.samples")) +
                              " exceeds the validation set (" + std::to_string(validation) +
                              " examples) the probe is drawn from");
  }
}

void check_variant(const config::Config& config) {
  as_config_error([&] {
    const auto options = model::variant_options(config);
    variants::validate(options);
    const auto heads = config.get_int("model.heads");
    variants::validate_heads(options, heads, config.get_int("model.d_model") / heads);
  });
}

// One preset per block, each a variant validated as variant.* is, its errors naming the layer.
void check_layer_variants(const config::Config& config) {
  const auto names = config.get_string_list("model.layer_variants");
  const auto layers = config.get_int("model.layers");
  if (!names.empty() && static_cast<std::int64_t>(names.size()) != layers) {
    throw config::ConfigError(fmt::format(
        "model.layer_variants has {} entries but model.layers = {}: give one preset per block "
        "(an encoder_decoder block's entry serves its self-attention in both stacks and its "
        "cross-attention), or [] for variant.* in every block",
        names.size(), layers));
  }
  const auto heads = config.get_int("model.heads");
  const auto layer_variants = model::layer_variants(config);
  for (std::size_t layer = 0; layer < layer_variants.size(); ++layer) {
    const auto& [name, options] = layer_variants[layer];
    try {
      variants::validate(options);
      variants::validate_heads(options, heads, config.get_int("model.d_model") / heads);
    } catch (const std::invalid_argument& error) {
      throw config::ConfigError(fmt::format(
          "model.layer_variants[{}] = '{}' (keys {}.{}.* over variant.*): {}", layer, name,
          model::kLayerVariantTables, name, error.what()));
    }
  }
}

// Checks across keys, run in this order after every key is valid; the first failure is reported.
void add_checks(config::Schema& schema) {
  schema.add_check(check_heads_divide_width);
  schema.add_check(check_micro_batches_divide_batch);
  schema.add_check(check_variant);
  schema.add_check(check_layer_variants);
  schema.add_check([](const config::Config& config) { tasks::make_task(config); });
  schema.add_check(check_probe_fits_validation);
  schema.add_check(check_device);
  schema.add_check(
      [](const config::Config& config) { check_folder_name(config, "experiment.name"); });
}

// Sections in the order `attnlab config doc` prints them.
config::Schema build_schema() {
  config::Schema schema;
  add_experiment_keys(schema);
  add_model_keys(schema);
  add_variant_keys(schema);
  add_task_keys(schema);
  add_train_keys(schema);
  add_eval_keys(schema);
  add_runtime_keys(schema);
  add_record_keys(schema);
  schema.add_free_section("extra");
  add_checks(schema);
  return schema;
}

}  // namespace

const config::Schema& schema() {
  static const config::Schema built = build_schema();
  return built;
}

std::filesystem::path default_config_dir() {
  if (const char* override_dir = std::getenv("ATTNLAB_CONFIG_DIR")) return override_dir;
  return ATTNLAB_CONFIG_DIR;
}

std::filesystem::path default_config_file() { return default_config_dir() / "experiment.toml"; }

config::Config load_config(const std::filesystem::path& config_file,
                           const std::vector<std::string>& overrides) {
  config::ComposeRequest request;
  request.config_file = config_file.empty() ? default_config_file() : config_file;
  request.search_dirs = {request.config_file.parent_path(), default_config_dir()};
  request.overrides = overrides;
  return config::compose(schema(), request);
}

config::Config load_run_config(const RunDir& run, const std::vector<std::string>& overrides) {
  const auto config = load_config(run.config_file(), overrides);
  if (!std::filesystem::exists(run.vocabulary_file())) return config;
  return config.with_string("task.vocabulary", run.vocabulary_file().string());
}

int resolve_threads(const config::Config& config) {
  const auto configured = config.get_int("runtime.threads");
  if (configured > 0) return static_cast<int>(configured);
  cpu_set_t cpus;
  if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0) return CPU_COUNT(&cpus);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace attnlab::run
