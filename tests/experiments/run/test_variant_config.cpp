// The variant parts' options as config keys: the schema takes each part's declared options and
// ranges (variants/ declares them, experiments/run/schema.cpp turns them into `variant.*` keys),
// the config layer rejects what a variant would, and every preset in configs/variant/ composes
// into a variant that runs.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>

#include "experiments/config/config.h"
#include "experiments/model/model_config.h"
#include "experiments/run/schema.h"
#include "variants/attention_variant.h"

using namespace attnlab::variants;

TEST_CASE("options out of range are config errors naming the key", "[config][variants]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"variant.window=0", "variant.window"},
      {"variant.window=-3", "variant.window"},
      {"variant.window_sides=three", "variant.window_sides"},
      {"variant.stride=0", "variant.stride"},
      {"variant.block=0", "variant.block"},
      {"variant.global_blocks=-1", "variant.global_blocks"},
      {"variant.random_blocks=-1", "variant.random_blocks"},
      {"variant.topk=0", "variant.topk"},
      {"variant.additive_hidden=0", "variant.additive_hidden"},
      {"variant.rope_base=0", "variant.rope_base"},
      {"variant.rope_fraction=1.5", "variant.rope_fraction"},
      {"variant.chunk=0", "variant.chunk"},
      {"variant.pattern=diagonal", "variant.pattern"},
      {"variant.position=learned", "variant.position"},
  };
  for (const auto& [override_text, key] : cases) {
    DYNAMIC_SECTION(override_text) {
      try {
        attnlab::run::load_config({}, {override_text});
        FAIL("accepted " << override_text);
      } catch (const attnlab::config::ConfigError& error) {
        CHECK_THAT(error.what(), Catch::Contains(key));
      }
    }
  }
}

TEST_CASE("incompatible parts are config errors naming the key", "[config][variants]") {
  // RoPE encodes i - j only through a dot product of q and k.
  try {
    attnlab::run::load_config({}, {"variant=rope", "variant.score=additive"});
    FAIL("the config layer accepted rope with additive scores");
  } catch (const attnlab::config::ConfigError& error) {
    CHECK_THAT(error.what(), Catch::Contains("variant.position"));
  }
}

TEST_CASE("every variant preset loads, builds and runs both paths", "[config][variants]") {
  const auto directory = attnlab::run::default_config_dir() / "variant";
  std::set<std::string> presets;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (entry.path().extension() == ".toml") presets.insert(entry.path().stem().string());
  }
  for (const std::string expected : {"dot", "scaled", "additive", "rope", "alibi", "local",
                                     "strided", "bigbird", "topk", "rope_local"}) {
    CHECK(presets.count(expected) == 1);
  }
  for (const auto& preset : presets) {
    DYNAMIC_SECTION(preset) {
      torch::manual_seed(1);
      auto options = attnlab::model::variant_options(attnlab::run::load_config(
          {}, {"variant=" + preset, "variant.chunk=16", "variant.materialise_max=0"}));
      AttentionVariant variant(options, AttentionSite{0, 2, 8, /*causal=*/true, /*cross=*/false});
      auto x = torch::randn({1, 2, 64, 8});
      const auto plain = variant->forward(x, x, x, /*need_probs=*/true);
      const auto fast = variant->forward(x, x, x);
      CHECK(torch::allclose(plain.out, fast.out, 1e-5, 1e-6));
    }
  }
}
