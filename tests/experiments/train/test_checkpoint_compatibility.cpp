// Checkpoints of runs made before the QK-norm, normaliser, mixer and gate stages existed still
// load: a default-variant model saves exactly the module tree such a checkpoint holds (listed
// below from one saved by the version before those stages: LibTorch's Module::load reads a
// submodule for every registered one, so one more stage module, even without parameters, would
// make every older checkpoint unreadable), and variants with the new parts save and restore their
// parameters.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/optim/adamw.h>
#include <torch/serialize/archive.h>

#include "experiments/model/model_config.h"
#include "experiments/run/schema.h"
#include "experiments/train/checkpoint.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;

namespace {

// The tiny decoder of the default experiment, pinned so that a new default does not move it.
config::Config tiny_config(std::vector<std::string> extra = {}) {
  std::vector<std::string> overrides = {
      "model.arch=decoder", "model.d_model=64",        "model.layers=2",
      "model.heads=4",      "model.positions=learned", "model.attention_only=false",
      "model.mlp_ratio=4",  "task=copy",               "task.vocab=32",
      "task.length=16",     "record.every=0"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  return run::load_config(run::default_config_file(), overrides);
}

model::Transformer build(const config::Config& config) {
  const auto task = tasks::make_task(config);
  return model::Transformer(model::model_spec(config, *task));
}

// Every module ("blocks.0.attention.variant.score") and tensor ("blocks.0.mlp.0.bias [256]") an
// archive holds, by path below `prefix`.
void archive_entries(torch::serialize::InputArchive& archive, const std::string& prefix,
                     std::set<std::string>& entries) {
  for (const auto& key : archive.keys()) {
    if (key == "training") continue;  // every module's flag, not a part of the tree
    torch::serialize::InputArchive child;
    torch::Tensor tensor;
    if (archive.try_read(key, child)) {
      entries.insert(prefix + key);
      archive_entries(child, prefix + key + ".", entries);
    } else if (archive.try_read(key, tensor)) {
      entries.insert(fmt::format("{}{} [{}]", prefix, key, fmt::join(tensor.sizes(), ",")));
    }
  }
}

// The model's entries in a checkpoint written by save_checkpoint.
std::set<std::string> saved_model_entries(const std::filesystem::path& checkpoint) {
  torch::serialize::InputArchive archive;
  archive.load_from(checkpoint.string());
  torch::serialize::InputArchive model_archive;
  archive.read("model", model_archive);
  std::set<std::string> entries;
  archive_entries(model_archive, "", entries);
  return entries;
}

std::filesystem::path save(const std::filesystem::path& directory, model::Transformer& model,
                           const config::Config& config) {
  torch::optim::AdamW optimizer(model->parameters());
  const auto path = directory / "step-00000001.pt";
  train::save_checkpoint(path, *model, optimizer, train::TrainerState{}, config.to_toml());
  return path;
}

// A fresh model of `config` loads `checkpoint` and then holds every parameter `saved` had.
void check_restores(model::Transformer& saved, const std::filesystem::path& checkpoint,
                    const config::Config& config) {
  auto loaded = build(config);
  REQUIRE_NOTHROW(train::load_checkpoint(checkpoint, loaded.get(), nullptr, config.to_toml()));
  const auto before = saved->named_parameters();
  for (const auto& parameter : loaded->named_parameters()) {
    INFO(parameter.key());
    CHECK(torch::equal(parameter.value(), before[parameter.key()]));
  }
}

// One block of the tiny decoder as a checkpoint saved before the new stages holds it.
std::set<std::string> block_entries(int block) {
  std::set<std::string> entries;
  for (const auto* entry :
       {"", ".attention_norm", ".attention_norm.weight [64]", ".attention_norm.bias [64]",
        ".attention", ".attention.query_key_value", ".attention.query_key_value.weight [192,64]",
        ".attention.query_key_value.bias [192]", ".attention.output",
        ".attention.output.weight [64,64]", ".attention.output.bias [64]", ".attention.variant",
        ".attention.variant.score", ".attention.variant.position", ".mlp_norm",
        ".mlp_norm.weight [64]", ".mlp_norm.bias [64]", ".mlp", ".mlp.0", ".mlp.0.weight [256,64]",
        ".mlp.0.bias [256]", ".mlp.1", ".mlp.2", ".mlp.2.weight [64,256]", ".mlp.2.bias [64]",
        ".dropout"}) {
    entries.insert(fmt::format("blocks.{}{}", block, entry));
  }
  return entries;
}

}  // namespace

TEST_CASE("a default-variant checkpoint holds the module tree older checkpoints hold, and loads",
          "[train][checkpoint]") {
  testing::TempDir work;
  const auto config = tiny_config();
  auto saved = build(config);
  const auto checkpoint = save(work.path(), saved, config);

  std::set<std::string> expected = {"token_embedding", "token_embedding.weight [32,64]",
                                    "positions", "positions.learned",
                                    "positions.learned.weight [32,64]", "dropout", "blocks",
                                    "final_norm", "final_norm.weight [64]", "final_norm.bias [64]",
                                    "head", "head.weight [32,64]", "head.bias [32]"};
  for (int block = 0; block < 2; ++block) {
    const auto entries = block_entries(block);
    expected.insert(entries.begin(), entries.end());
  }
  CHECK(saved_model_entries(checkpoint) == expected);
  check_restores(saved, checkpoint, config);
}

TEST_CASE("the new stages' parameters are saved and restored", "[train][checkpoint]") {
  testing::TempDir work;
  const auto config =
      tiny_config({"variant.qk_norm=rms", "variant.normaliser=sink", "variant.mixer=differential",
                   "variant.gate=head", "variant.position=t5", "variant.kv_heads=2"});
  auto saved = build(config);
  {
    torch::NoGradGuard no_grad;  // away from their initial values, so a restore is visible
    for (auto& parameter : saved->parameters()) parameter.add_(torch::randn_like(parameter));
  }
  const auto checkpoint = save(work.path(), saved, config);
  const auto entries = saved_model_entries(checkpoint);
  for (const auto* entry :
       {"blocks.1.attention.query_key_value.weight [128,64]",  // C + 2 G D = 64 + 2·2·16
        "blocks.1.attention.variant.qk_norm.query_scale [8]",  // the score's d = D / 2
        "blocks.1.attention.variant.qk_norm.key_scale [8]",
        "blocks.1.attention.variant.normaliser.logits [4]",
        "blocks.1.attention.variant.mixer.lambda_q1 [8]",
        "blocks.1.attention.variant.mixer.norm_scale [16]",
        "blocks.1.attention.variant.gate.projection.weight [4,64]",
        "blocks.1.attention.variant.position.table [32,4]"}) {
    CHECK(entries.count(entry) == 1);
  }
  check_restores(saved, checkpoint, config);
}
