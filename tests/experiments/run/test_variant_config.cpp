// The variant parts' options as config keys: the schema takes each part's declared options and
// ranges (variants/ declares them, experiments/run/schema.cpp turns them into `variant.*` keys),
// the config layer rejects what a variant would (`attnlab train` exits 2, writing nothing), every
// preset in configs/variant/ composes into a variant that runs, alone or as one layer of a hybrid
// stack (model.layer_variants).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "experiments/config/config.h"
#include "experiments/model/model_config.h"
#include "experiments/run/preflight.h"
#include "experiments/run/schema.h"
#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"
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
      {"variant.qk_norm=cosine", "variant.qk_norm"},
      {"variant.normaliser=sparsemax", "variant.normaliser"},
      {"variant.mixer=triple", "variant.mixer"},
      {"variant.gate=tanh", "variant.gate"},
      {"variant.kv_heads=-1", "variant.kv_heads"},
      {"variant.softcap=0", "variant.softcap"},
      {"variant.softcap=-30", "variant.softcap"},
      {"variant.softcap=nan", "variant.softcap"},
      {"variant.t5_buckets=2", "variant.t5_buckets"},
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

TEST_CASE("incompatible parts and shapes are config errors naming the key", "[config][variants]") {
  struct Case {
    std::vector<std::string> overrides;
    std::vector<std::string> keys;
  };
  const std::vector<Case> cases = {
      // RoPE encodes i - j only through a dot product of q and k.
      {{"variant=rope", "variant.score=additive"}, {"variant.position"}},
      // Top-k keeps a sparse softmax; sigmoid rows are no distributions.
      {{"variant.normaliser=sigmoid", "variant.pattern=topk"},
       {"variant.pattern", "variant.normaliser"}},
      // The tiny model's 4 heads: 3 does not divide them, 8 exceeds them.
      {{"variant.kv_heads=3"}, {"variant.kv_heads", "model.heads"}},
      {{"variant.kv_heads=8"}, {"variant.kv_heads", "model.heads"}},
      // Differential attention halves the head dimension: 36 / 4 = 9 is odd.
      {{"variant.mixer=differential", "model.d_model=36"}, {"variant.mixer"}},
      // With 32 buckets the logarithmic ones start at distance 16.
      {{"variant.position=t5", "variant.t5_max_distance=16"}, {"variant.t5_max_distance"}},
  };
  for (const auto& bad : cases) {
    std::string joined;
    for (const auto& override_text : bad.overrides) joined += override_text + " ";
    DYNAMIC_SECTION(joined) {
      try {
        attnlab::run::load_config({}, bad.overrides);
        FAIL("accepted " << joined);
      } catch (const attnlab::config::ConfigError& error) {
        for (const auto& key : bad.keys) CHECK_THAT(error.what(), Catch::Contains(key));
      }
    }
  }
  // Each refusal sits at the edge: one step inside, the same stages load.
  CHECK_NOTHROW(attnlab::run::load_config({}, {"variant.kv_heads=2"}));
  CHECK_NOTHROW(attnlab::run::load_config({}, {"variant.mixer=differential", "model.d_model=32"}));
  CHECK_NOTHROW(
      attnlab::run::load_config({}, {"variant.position=t5", "variant.t5_max_distance=17"}));
  CHECK_NOTHROW(attnlab::run::load_config({}, {"variant.softcap=0.5"}));
}

TEST_CASE("bad variant input exits 2 from attnlab train, naming the key, writing nothing",
          "[config][variants][cli]") {
  attnlab::testing::TempDir work;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"train", "variant.kv_heads=3"}, "variant.kv_heads"},
      {{"train", "variant.position=t5", "variant.t5_max_distance=16"}, "variant.t5_max_distance"}};
  for (const auto& [arguments, key] : cases) {
    const auto result = attnlab::testing::run_attnlab(arguments, work.path());
    INFO(result.output);
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.output, Catch::Contains(key));
    CHECK(std::filesystem::is_empty(work.path()));
  }
}

namespace {

std::set<std::string> variant_presets() {
  std::set<std::string> presets;
  for (const auto& entry :
       std::filesystem::directory_iterator(attnlab::run::default_config_dir() / "variant")) {
    if (entry.path().extension() == ".toml") presets.insert(entry.path().stem().string());
  }
  return presets;
}

std::string config_error(const std::vector<std::string>& overrides) {
  try {
    attnlab::run::load_config({}, overrides);
  } catch (const attnlab::config::ConfigError& error) {
    return error.what();
  }
  FAIL("accepted the overrides");
  return {};
}

}  // namespace

TEST_CASE("every variant preset loads, builds and runs both paths", "[config][variants]") {
  const auto presets = variant_presets();
  for (const std::string expected :
       {"dot", "scaled", "additive", "rope", "alibi", "local", "strided", "bigbird", "topk",
        "rope_local", "mqa", "gqa", "qk_norm", "softcap", "sigmoid", "sink", "gated", "gated_head",
        "differential", "t5"}) {
    CHECK(presets.count(expected) == 1);
  }
  for (const auto& preset : presets) {
    DYNAMIC_SECTION(preset) {
      torch::manual_seed(1);
      auto options = attnlab::model::variant_options(attnlab::run::load_config(
          {}, {"variant=" + preset, "variant.chunk=16", "variant.materialise_max=0"}));
      AttentionSite site{0, 4, 8, /*causal=*/true, /*cross=*/false};
      site.d_model = 32;
      AttentionVariant variant(options, site);
      const auto q = torch::randn({1, 4, 64, 8});
      const auto k = torch::randn({1, variant->kv_heads(), 64, 8});
      const auto v = torch::randn({1, variant->kv_heads(), 64, 8});
      const auto x = torch::randn({1, 64, 32});  // the layer input, which output gates read
      const auto plain = variant->forward(q, k, v, /*need_probs=*/true, x);
      const auto fast = variant->forward(q, k, v, /*need_probs=*/false, x);
      CHECK(torch::allclose(plain.out, fast.out, 1e-5, 1e-6));
    }
  }
}

TEST_CASE("every variant preset passes the checks of the default and demo experiments",
          "[config][variants][layer-variants]") {
  const auto demo = attnlab::run::default_config_dir() / "demo.toml";
  for (const auto& preset : variant_presets()) {
    DYNAMIC_SECTION(preset) {
      // Alone, and as one layer of a hybrid stack over the tiny model's 2 blocks.
      for (const auto& overrides : std::vector<std::vector<std::string>>{
               {"variant=" + preset}, {"model.layer_variants=[" + preset + ",scaled]"}}) {
        INFO(overrides.front());
        CHECK_NOTHROW(attnlab::run::check_shapes(attnlab::run::load_config({}, overrides)));
        CHECK_NOTHROW(attnlab::run::check_shapes(attnlab::run::load_config(demo, overrides)));
      }
    }
  }
}

TEST_CASE("a hybrid stack's layers take the run's variant with their preset over it",
          "[config][layer-variants]") {
  const auto config = attnlab::run::load_config(
      {}, {"variant=rope", "model.layers=3", "model.layer_variants=[local,mqa,local]",
           "layer_variant.local.window=4"});
  const auto layers = attnlab::model::layer_variants(config);
  REQUIRE(layers.size() == 3);
  CHECK(layers[0].name == "local");
  CHECK(layers[0].options.get_string("pattern") == "local");
  CHECK(layers[0].options.get_int("window") == 4);
  CHECK(layers[0].options.get_string("position") == "none");  // local.toml sets it
  CHECK(layers[1].options.get_int("kv_heads") == 1);
  CHECK(layers[1].options.get_string("position") == "rope");  // mqa.toml does not: the run's
  CHECK(attnlab::model::variant_options(config).get_string("pattern") == "full");
}

TEST_CASE("a saved hybrid config reproduces its layers without configs/",
          "[config][layer-variants][round-trip]") {
  const auto config =
      attnlab::run::load_config({}, {"model.layer_variants=[sink,differential]"});
  attnlab::testing::TempDir folder;
  const auto saved = folder.path() / "config.toml";
  std::ofstream(saved) << config.to_toml();
  // An empty config folder: the presets can only come from the saved copies.
  const char* previous = std::getenv("ATTNLAB_CONFIG_DIR");
  const std::string kept = previous == nullptr ? "" : previous;
  setenv("ATTNLAB_CONFIG_DIR", folder.path().c_str(), 1);
  const auto reloaded = attnlab::run::load_config(saved, {});
  if (previous == nullptr) {
    unsetenv("ATTNLAB_CONFIG_DIR");
  } else {
    setenv("ATTNLAB_CONFIG_DIR", kept.c_str(), 1);
  }
  CHECK(reloaded.to_toml() == config.to_toml());
  CHECK(attnlab::model::layer_variants(reloaded)[1].options.get_string("mixer") == "differential");
}

TEST_CASE("bad layer lists are config errors naming the key", "[config][layer-variants]") {
  SECTION("one preset per block") {
    CHECK_THAT(config_error({"model.layers=3", "model.layer_variants=[local,scaled]"}),
               Catch::Contains("model.layer_variants has 2 entries but model.layers = 3"));
  }
  SECTION("an unknown preset lists the known ones") {
    CHECK_THAT(config_error({"model.layer_variants=[local,flash]"}),
               Catch::Contains("'flash'") && Catch::Contains("model.layer_variants") &&
                   Catch::Contains("mqa, qk_norm"));
  }
  SECTION("each layer is validated as variant.* is, naming the layer") {
    CHECK_THAT(config_error({"model.layer_variants=[scaled,mqa]", "layer_variant.mqa.kv_heads=3"}),
               Catch::Contains("model.layer_variants[1] = 'mqa'") &&
                   Catch::Contains("variant.kv_heads = 3 must divide model.heads = 4"));
    CHECK_THAT(config_error({"model.layer_variants=[differential,scaled]", "model.d_model=60"}),
               Catch::Contains("model.layer_variants[0] = 'differential'") &&
                   Catch::Contains("odd"));
    // The preset lays over the run's variant: sigmoid under the run's top-k is refused.
    CHECK_THAT(config_error({"variant=topk", "model.layer_variants=[sigmoid,scaled]"}),
               Catch::Contains("model.layer_variants[0] = 'sigmoid'") &&
                   Catch::Contains("variant.pattern"));
  }
  SECTION("a value out of range in a copy") {
    CHECK_THAT(config_error({"model.layer_variants=[softcap,scaled]",
                             "layer_variant.softcap.softcap=0"}),
               Catch::Contains("layer_variant.softcap.softcap"));
  }
}
