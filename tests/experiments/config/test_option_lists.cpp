// Option lists (model.layer_variants): a list key naming options of a group, each copied into
// the resolved config as a table, so that the saved config reproduces the run without the option
// files; overrides lay over the copies; bad names and keys are ConfigErrors naming the key.
#include <catch2/catch.hpp>

#include "config_test_support.h"

using namespace attnlab::config;
using namespace attnlab::config::testing;
using Catch::Contains;

namespace {

Schema schema_with_layer_variants() {
  Schema schema = make_schema();
  schema.add_option_list("model.layer_variants", "variant", "layer_variant",
                         "the variant option each block uses");
  return schema;
}

struct Fixture {
  Fixture() {
    write_standard_options(dir);  // variant/rope.toml: scale = 0.5; variant/softmax.toml: empty
    file = dir.write("experiment.toml", "defaults = [\"model/tiny\", \"variant/scaled\"]\n");
  }
  Config compose(std::vector<std::string> overrides) const {
    return compose_file(schema, file, std::move(overrides));
  }

  Schema schema = schema_with_layer_variants();
  TempDir dir;
  fs::path file;
};

std::string error_of(const std::function<void()>& compose) {
  try {
    compose();
  } catch (const ConfigError& error) {
    return error.what();
  }
  FAIL("composed without an error");
  return {};
}

}  // namespace

TEST_CASE("each listed option is copied into its table, named", "[compose][option-list]") {
  Fixture fixture;
  const Config config = fixture.compose({"model.layer_variants=[rope,softmax,rope]"});
  CHECK(config.get_string_list("model.layer_variants") ==
        std::vector<std::string>{"rope", "softmax", "rope"});
  CHECK(config.get_float("layer_variant.rope.scale") == 0.5);
  CHECK(config.get_string("layer_variant.rope.name") == "rope");
  // An empty option file still leaves its table (its name), so a saved config holds it.
  CHECK(config.get_string("layer_variant.softmax.name") == "softmax");
  CHECK_FALSE(config.has("layer_variant.softmax.scale"));
  // The group's own keys are untouched.
  CHECK(config.get_float("variant.scale") == 2.0);
  SECTION("the empty list copies nothing") {
    CHECK_FALSE(fixture.compose({}).has("layer_variant"));
  }
}

TEST_CASE("a saved config reproduces the copies without the option files",
          "[compose][option-list][round-trip]") {
  Fixture fixture;
  const Config first =
      fixture.compose({"model.layer_variants=[rope,softmax]", "layer_variant.rope.scale=0.25"});
  const std::string text = first.to_toml();
  CHECK_THAT(text, Contains("[variant]\nname = \"scaled\"\nscale = 2.0\n\n[layer_variant]\n"
                            "rope.name = \"rope\"\nrope.scale = 0.25\nsoftmax.name = \"softmax\"\n"));
  TempDir elsewhere;  // no variant/ folder here
  const fs::path saved = elsewhere.write("config.toml", text);
  const Config second = compose(fixture.schema, ComposeRequest{saved, {saved.parent_path()}, {}});
  CHECK(second.to_toml() == text);
  CHECK(second.hash() == first.hash());
  SECTION("a list changed by an override drops the tables it no longer names") {
    const Config third = compose(fixture.schema, ComposeRequest{saved, {fixture.dir.root()},
                                                                {"model.layer_variants=[rope]"}});
    CHECK(third.get_float("layer_variant.rope.scale") == 0.25);
    CHECK_FALSE(third.has("layer_variant.softmax"));
  }
}

TEST_CASE("a table in the config file replaces the option file", "[compose][option-list]") {
  Fixture fixture;
  const fs::path file = fixture.dir.write("inline.toml", R"(defaults = ["variant/scaled"]
[model]
layer_variants = ["rope"]
[layer_variant.rope]
scale = 3.0
)");
  const Config config = compose_file(fixture.schema, file);
  CHECK(config.get_float("layer_variant.rope.scale") == 3.0);
  CHECK_FALSE(config.has("layer_variant.rope.name"));
}

TEST_CASE("overrides lay over the copies", "[compose][option-list][overrides]") {
  Fixture fixture;
  const Config config = fixture.compose(
      {"model.layer_variants=[rope,scaled]", "layer_variant.rope.scale=0.25", "~layer_variant.scaled.scale"});
  CHECK(config.get_float("layer_variant.rope.scale") == 0.25);
  CHECK(config.get_string("layer_variant.rope.name") == "rope");
  CHECK_FALSE(config.has("layer_variant.scaled.scale"));  // the block takes variant.scale
}

TEST_CASE("bad option lists are ConfigErrors naming the key", "[compose][option-list][errors]") {
  Fixture fixture;
  SECTION("an unknown option lists the known ones") {
    const auto message = error_of([&] { fixture.compose({"model.layer_variants=[rope,flash]"}); });
    CHECK_THAT(message, Contains("'flash'") && Contains("model.layer_variants") &&
                            Contains("valid options: rope, scaled, softmax"));
  }
  SECTION("a name that cannot be a table") {
    CHECK_THAT(error_of([&] { fixture.compose({"model.layer_variants=['a b']"}); }),
               Contains("model.layer_variants"));
  }
  SECTION("a key the group does not declare, in an option file") {
    fixture.dir.write("variant/typo.toml", "scal = 1.0\n");
    CHECK_THAT(error_of([&] { fixture.compose({"model.layer_variants=[typo]"}); }),
               Contains("layer_variant.typo.scal"));
  }
  SECTION("values are checked as the group's keys") {
    CHECK_THAT(error_of([&] {
                 fixture.compose({"model.layer_variants=[rope]", "layer_variant.rope.name=flash"});
               }),
               Contains("layer_variant.rope.name") && Contains("one of"));
    CHECK_THAT(error_of([&] {
                 fixture.compose({"model.layer_variants=[rope]", "layer_variant.rope.scale=abc"});
               }),
               Contains("layer_variant.rope.scale"));
  }
  SECTION("an override of a table the list does not name") {
    CHECK_THAT(error_of([&] {
                 fixture.compose({"model.layer_variants=[rope]", "layer_variant.scaled.scale=1"});
               }),
               Contains("model.layer_variants") && Contains("'scaled'"));
  }
}

TEST_CASE("config doc documents the copies' section", "[compose][option-list][doc]") {
  const std::string doc = schema_with_layer_variants().document();
  CHECK_THAT(doc, Contains("[layer_variant]  a copy layer_variant.<option>.<key> of each variant "
                           "option model.layer_variants names"));
  CHECK_THROWS_AS(make_schema().add_option_list("model.list", "nogroup", "tables", ""), ConfigError);
  CHECK_THROWS_AS(make_schema().add_option_list("model.list", "variant", "train", ""), ConfigError);
}
