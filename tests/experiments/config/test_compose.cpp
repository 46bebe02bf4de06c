// compose(): defaults list, option files, the config file's keys, overrides, validation, and the
// resolved TOML round trip. Every test writes its own files into a temporary directory.
#include <cmath>
#include <stdexcept>

#include <catch2/catch.hpp>

#include "config_test_support.h"

using namespace attnlab::config;
using namespace attnlab::config::testing;
using Catch::Contains;
using Catch::StartsWith;

namespace {

// A config directory with the standard option files and experiment.toml holding `content`.
struct Fixture {
  explicit Fixture(const std::string& content) {
    write_standard_options(dir);
    file = dir.write("experiment.toml", content);
  }
  Config compose(std::vector<std::string> overrides = {}) const {
    return compose_file(schema, file, std::move(overrides));
  }
  std::string path() const { return file.string(); }

  Schema schema = make_schema();
  TempDir dir;
  fs::path file;
};

const char* const kStandardExperiment = R"(defaults = ["model/tiny", "variant/scaled"]
seed = 1

[train]
lr = 0.01
steps = 50
)";

}  // namespace

TEST_CASE("composition order: code default < defaults entries < file keys < overrides",
          "[compose]") {
  Fixture fixture(R"(defaults = ["model/tiny", "variant/scaled"]
seed = 1

[model]
heads = 8

[train]
lr = 0.01
steps = 50
)");
  SECTION("without overrides") {
    Config config = fixture.compose();
    CHECK(config.get_string("experiment.name") == "scratch");  // code default
    CHECK(config.get_int("model.d_model") == 64);              // model/tiny
    CHECK(config.get_int("model.heads") == 8);                 // file beats model/tiny's 4
    CHECK(config.get_float("variant.scale") == 2.0);           // variant/scaled, int as float
    CHECK(config.get_int("seed") == 1);                        // file, top level
    CHECK(config.get_float("train.lr") == 0.01);               // file
    CHECK_FALSE(config.get_bool("train.use_amp"));             // code default
    CHECK(config.get_int_list("eval.lengths") == std::vector<std::int64_t>{64, 128});
  }
  SECTION("overrides beat the file, and apply in the order given") {
    Config config = fixture.compose({"model.heads=16", "train.lr=3e-4", "train.steps=5",
                                     "train.steps=7", "train.use_amp=true"});
    CHECK(config.get_int("model.heads") == 16);
    CHECK(config.get_float("train.lr") == 3e-4);
    CHECK(config.get_int("train.steps") == 7);
    CHECK(config.get_bool("train.use_amp"));
    CHECK(config.get_int("model.d_model") == 64);
  }
}

TEST_CASE("each group option sets <group>.name unless its file does", "[compose][groups]") {
  Fixture fixture(kStandardExperiment);
  Config config = fixture.compose();
  CHECK(config.get_string("model.name") == "tiny");
  CHECK(config.get_string("variant.name") == "scaled");
  CHECK(fixture.compose({"model=big"}).get_string("model.name") == "large");
  CHECK(fixture.compose({"model.name=custom"}).get_string("model.name") == "custom");
}

TEST_CASE("group=option picks another option file", "[compose][groups]") {
  Fixture fixture(kStandardExperiment);
  SECTION("replaces the entry of the defaults list") {
    Config config = fixture.compose({"model=big", "variant=rope"});
    CHECK(config.get_int("model.d_model") == 512);
    CHECK(config.get_int("model.heads") == 8);
    CHECK(config.get_float("variant.scale") == 0.5);
    CHECK(config.get_string("variant.name") == "rope");
  }
  SECTION("is applied before key overrides wherever it stands on the command line") {
    Config config = fixture.compose({"model.heads=16", "model=big"});
    CHECK(config.get_int("model.d_model") == 512);
    CHECK(config.get_int("model.heads") == 16);
  }
  SECTION("quoted option names work too") {
    CHECK(fixture.compose({"variant='rope'"}).get_string("variant.name") == "rope");
  }
  SECTION("the last of several picks of one group wins") {
    CHECK(fixture.compose({"variant=rope", "variant=softmax"}).get_string("variant.name") ==
          "softmax");
  }
  SECTION("a group missing from the defaults list needs +") {
    CHECK_THROWS_WITH(fixture.compose({"train=short"}),
                      Contains("override 'train=short'") &&
                          Contains("group 'train' is not in the defaults list") &&
                          Contains("use '+train=short'"));
  }
  SECTION("an unknown option lists the valid ones and names the override") {
    CHECK_THROWS_WITH(fixture.compose({"variant=flash"}),
                      "unknown option 'flash' for group 'variant' (in override 'variant=flash'); "
                      "valid options: rope, scaled, softmax");
  }
  SECTION("null is not an option") {
    CHECK_THROWS_WITH(fixture.compose({"variant=null"}),
                      Contains("cannot be null") && Contains("'~variant'"));
  }
}

TEST_CASE("+group=option appends to the defaults list, ++ adds or replaces", "[compose][groups]") {
  Fixture fixture("defaults = [\"model/tiny\"]\n");
  SECTION("+ appends") {
    Config config = fixture.compose({"+variant=rope", "+train=short"});
    CHECK(config.get_string("variant.name") == "rope");
    CHECK(config.get_float("variant.scale") == 0.5);
    CHECK(config.get_int("train.steps") == 10);
    CHECK(config.get_float("train.lr") == 0.01);
  }
  SECTION("+ on a group already in the list is an error") {
    CHECK_THROWS_WITH(fixture.compose({"+model=big"}),
                      Contains("override '+model=big'") &&
                          Contains("group 'model' is already in the defaults list") &&
                          Contains("model=big"));
  }
  SECTION("++ replaces an entry or appends one") {
    Config config = fixture.compose({"++model=big", "++variant=rope"});
    CHECK(config.get_string("model.name") == "large");
    CHECK(config.get_string("variant.name") == "rope");
  }
}

TEST_CASE("~group removes a group from the defaults list", "[compose][groups][delete]") {
  Fixture fixture(kStandardExperiment);
  SECTION("its keys return to their code defaults") {
    Config config = fixture.compose({"~variant"});
    CHECK(config.get_float("variant.scale") == 1.0);
    CHECK(config.get_string("variant.name") == "softmax");
    CHECK(config.get_int("model.d_model") == 64);
  }
  SECTION("~group=option deletes only when the option matches") {
    CHECK(fixture.compose({"~variant=scaled"}).get_float("variant.scale") == 1.0);
    CHECK_THROWS_WITH(fixture.compose({"~variant=rope"}),
                      Contains("override '~variant=rope'") &&
                          Contains("group 'variant' is 'scaled', not 'rope'"));
  }
  SECTION("a group not in the list cannot be deleted") {
    CHECK_THROWS_WITH(
        fixture.compose({"~train"}),
        Contains("override '~train'") && Contains("group 'train' is not in the defaults list"));
  }
  SECTION("delete then add picks a fresh option") {
    CHECK(fixture.compose({"~variant", "+variant=rope"}).get_string("variant.name") == "rope");
  }
}

TEST_CASE("key=value sets declared keys with type checks", "[compose][overrides]") {
  Fixture fixture(kStandardExperiment);
  SECTION("every type") {
    Config config = fixture.compose({"seed=-0", "train.lr=.5", "train.use_amp=True",
                                     "experiment.name='my run'", "eval.lengths=[256, 512]",
                                     "eval.temperatures=[1, 0.5]", "eval.tags=[fast, 'a b']"});
    CHECK(config.get_int("seed") == 0);
    CHECK(config.get_float("train.lr") == 0.5);
    CHECK(config.get_bool("train.use_amp"));
    CHECK(config.get_string("experiment.name") == "my run");
    CHECK(config.get_int_list("eval.lengths") == std::vector<std::int64_t>{256, 512});
    CHECK(config.get_float_list("eval.temperatures") == std::vector<double>{1.0, 0.5});
    CHECK(config.get_string_list("eval.tags") == std::vector<std::string>{"fast", "a b"});
  }
  SECTION("an empty list") {
    CHECK(fixture.compose({"eval.lengths=[]"}).get_int_list("eval.lengths").empty());
  }
  SECTION("a bare number for a string key is the string") {
    CHECK(fixture.compose({"experiment.name=123"}).get_string("experiment.name") == "123");
  }
  SECTION("ints are stored as floats in float keys") {
    Config config = fixture.compose({"train.lr=1"});
    CHECK(config.table()["train"]["lr"].is_floating_point());
    CHECK(config.get_float("train.lr") == 1.0);
  }
  SECTION("unknown key, with a suggestion") {
    CHECK_THROWS_WITH(fixture.compose({"train.lrr=1"}),
                      "unknown key 'train.lrr' in override 'train.lrr=1'; did you mean "
                      "'train.lr'?");
    CHECK_THROWS_WITH(fixture.compose({"lr=1"}), Contains("did you mean 'train.lr'?"));
  }
  SECTION("unknown key without anything close") {
    CHECK_THROWS_WITH(fixture.compose({"qqqq.zzzz=1"}),
                      "unknown key 'qqqq.zzzz' in override 'qqqq.zzzz=1'");
  }
  SECTION("wrong type") {
    CHECK_THROWS_WITH(fixture.compose({"train.steps=abc"}),
                      "override 'train.steps=abc': key 'train.steps' expects int, got 'abc'");
  }
  SECTION("a scalar key given a list, a list key given a scalar") {
    CHECK_THROWS_WITH(fixture.compose({"train.steps=[1,2]"}),
                      Contains("key 'train.steps' expects int, got '[1,2]'"));
    CHECK_THROWS_WITH(fixture.compose({"eval.lengths=64"}),
                      Contains("key 'eval.lengths' expects list[int], got '64'"));
  }
  SECTION("null") {
    CHECK_THROWS_WITH(fixture.compose({"model.name=null"}),
                      "override 'model.name=null': key 'model.name' cannot be null");
  }
  SECTION("malformed overrides are reported before anything is composed") {
    CHECK_THROWS_WITH(fixture.compose({"train.lr=[1"}), StartsWith("malformed override"));
  }
}

TEST_CASE("+key=value adds keys under free sections only", "[compose][overrides][free]") {
  Fixture fixture(kStandardExperiment);
  SECTION("the value's type is inferred") {
    Config config =
        fixture.compose({"+extra.note=hello", "+extra.count=3", "+extra.ratio=0.5",
                         "+extra.flag=false", "+extra.sizes=[1,2]", "+extra.words=[a, 'b c']",
                         "+extra.quoted='42'", "+extra.deep.inner=1"});
    CHECK(config.get_string("extra.note") == "hello");
    CHECK(config.get_int("extra.count") == 3);
    CHECK(config.get_float("extra.ratio") == 0.5);
    CHECK_FALSE(config.get_bool("extra.flag"));
    CHECK(config.get_int_list("extra.sizes") == std::vector<std::int64_t>{1, 2});
    CHECK(config.get_string_list("extra.words") == std::vector<std::string>{"a", "b c"});
    CHECK(config.get_string("extra.quoted") == "42");
    CHECK(config.get_int("extra.deep.inner") == 1);
  }
  SECTION("an added key can then be set without +") {
    CHECK(fixture.compose({"+extra.note=a", "extra.note=b"}).get_string("extra.note") == "b");
  }
  SECTION("setting a free key that does not exist suggests +") {
    CHECK_THROWS_WITH(
        fixture.compose({"extra.note=1"}),
        Contains("key 'extra.note' does not exist") && Contains("use '+extra.note=1'"));
  }
  SECTION("outside free sections") {
    CHECK_THROWS_WITH(fixture.compose({"+train.foo=1"}),
                      "override '+train.foo=1': cannot add 'train.foo': 'train' is not a free "
                      "section; keys can only be added under: extra");
    CHECK_THROWS_WITH(
        fixture.compose({"+foo=1"}),
        Contains("cannot add 'foo'") && Contains("keys can only be added under: extra"));
  }
  SECTION("a key that exists already") {
    CHECK_THROWS_WITH(fixture.compose({"+extra.note=a", "+extra.note=b"}),
                      Contains("cannot add 'extra.note'") && Contains("use ++"));
    CHECK_THROWS_WITH(fixture.compose({"+train.lr=1"}),
                      Contains("cannot add 'train.lr'") && Contains("use ++"));
  }
  SECTION("below a value") {
    CHECK_THROWS_WITH(fixture.compose({"+extra.note=a", "+extra.note.x=1"}),
                      Contains("override '+extra.note.x=1'") && Contains("'extra.note'"));
  }
  SECTION("null") {
    CHECK_THROWS_WITH(fixture.compose({"+extra.note=null"}),
                      Contains("key 'extra.note' cannot be null"));
  }
}

TEST_CASE("declared keys inside a free section stay typed", "[compose][overrides][free]") {
  Fixture fixture(kStandardExperiment);
  fixture.schema.add("extra.sub.level", Type::Int, 1, "A declared key in a free section.");
  CHECK(fixture.compose({"+extra.note=a"}).get_int("extra.sub.level") == 1);
  CHECK_THROWS_WITH(fixture.compose({"++extra.sub.level=high"}),
                    Contains("key 'extra.sub.level' expects int, got 'high'"));
  CHECK_THROWS_WITH(fixture.compose({"+extra.sub.level=2"}), Contains("use ++"));
  CHECK_THROWS_WITH(fixture.compose({"++extra.sub=2"}), Contains("cannot add 'extra.sub'"));
  CHECK_THROWS_WITH(fixture.compose({"~extra.sub"}), Contains("no such key"));
}

TEST_CASE("++key=value adds or overrides", "[compose][overrides][free]") {
  Fixture fixture(kStandardExperiment);
  CHECK(fixture.compose({"++extra.note=a"}).get_string("extra.note") == "a");
  CHECK(fixture.compose({"++extra.note=a", "++extra.note=b"}).get_string("extra.note") == "b");
  CHECK(fixture.compose({"++train.lr=0.5"}).get_float("train.lr") == 0.5);
  CHECK_THROWS_WITH(fixture.compose({"++train.lr=fast"}),
                    Contains("key 'train.lr' expects float, got 'fast'"));
  CHECK_THROWS_WITH(
      fixture.compose({"++train.foo=1"}),
      Contains("cannot add 'train.foo'") && Contains("keys can only be added under: extra"));
}

TEST_CASE("~key deletes keys", "[compose][overrides][delete]") {
  Fixture fixture(kStandardExperiment);
  SECTION("a declared key returns to its code default") {
    Config config = fixture.compose({"~train.lr", "~model.d_model"});
    CHECK(config.get_float("train.lr") == 1e-3);
    CHECK(config.get_int("model.d_model") == 32);
  }
  SECTION("a free-section key is removed") {
    Config config = fixture.compose({"+extra.note=a", "+extra.other=b", "~extra.note"});
    CHECK_FALSE(config.has("extra.note"));
    CHECK(config.has("extra.other"));
    CHECK_FALSE(fixture.compose({"+extra.note=a", "~extra.note"}).has("extra"));
  }
  SECTION("~key=value deletes only a matching value") {
    CHECK(fixture.compose({"~train.lr=0.01"}).get_float("train.lr") == 1e-3);
    CHECK(fixture.compose({"+extra.n=1", "~extra.n=1.0"}).has("extra.n") == false);
    CHECK_THROWS_WITH(fixture.compose({"~train.lr=0.5"}),
                      "override '~train.lr=0.5': cannot delete 'train.lr': its value is 0.01, not "
                      "0.5");
    CHECK_THROWS_WITH(fixture.compose({"+extra.note=a", "~extra.note=b"}),
                      Contains("its value is \"a\", not \"b\""));
  }
  SECTION("a key that does not exist") {
    CHECK_THROWS_WITH(fixture.compose({"~extra.note"}),
                      "override '~extra.note': cannot delete 'extra.note': no such key");
    CHECK_THROWS_WITH(fixture.compose({"~train.lrr"}), Contains("no such key"));
  }
}

TEST_CASE("config files: errors name file:line:col", "[compose][files][errors]") {
  TempDir dir;
  write_standard_options(dir);
  Schema schema = make_schema();
  auto compose_text = [&](const std::string& text) {
    return compose_file(schema, dir.write("experiment.toml", text));
  };
  const std::string path = (dir.root() / "experiment.toml").string();

  SECTION("a missing file") {
    fs::path missing = dir.root() / "nope.toml";
    CHECK_THROWS_WITH(compose_file(schema, missing), "config file not found: " + missing.string());
  }
  SECTION("TOML syntax errors") {
    CHECK_THROWS_AS(compose_text("seed = 1\nlr = = 2\n"), ConfigError);
    CHECK_THROWS_WITH(compose_text("seed = 1\nlr = = 2\n"), StartsWith(path + ":2:"));
    CHECK_THROWS_WITH(compose_text("[train\n"), StartsWith(path + ":1:"));
  }
  SECTION("unknown keys, with suggestions") {
    CHECK_THROWS_WITH(compose_text("[train]\nlrr = 0.1\n"),
                      path + ":2:1: unknown key 'train.lrr'; did you mean 'train.lr'?");
    CHECK_THROWS_WITH(compose_text("[trian]\nlr = 0.1\n"),
                      Contains(path + ":2:1") && Contains("did you mean 'train.lr'?"));
    CHECK_THROWS_WITH(compose_text("sed = 1\n"),
                      Contains(path + ":1:1") && Contains("did you mean 'seed'?"));
    CHECK_THROWS_WITH(compose_text("[qqqq]\n"), Contains("unknown key 'qqqq'"));
  }
  SECTION("wrong types") {
    CHECK_THROWS_WITH(compose_text("[train]\nsteps = \"abc\"\n"),
                      path + ":2:9: key 'train.steps' expects int, found string \"abc\"");
    CHECK_THROWS_WITH(compose_text("[train]\nsteps = 1.5\n"),
                      Contains("expects int, found float 1.5"));
    CHECK_THROWS_WITH(compose_text("[eval]\nlengths = [64, \"a\"]\n"),
                      Contains(path + ":2:11") && Contains("expects list[int]"));
    CHECK_THROWS_WITH(compose_text("[eval]\nlengths = 64\n"),
                      Contains("expects list[int], found int 64"));
    CHECK_THROWS_WITH(compose_text("[train.lr]\nx = 1\n"),
                      Contains("key 'train.lr' expects float, found a table"));
    CHECK_THROWS_WITH(compose_text("train = 3\n"),
                      Contains(path + ":1:1") && Contains("'train' is a section"));
  }
  SECTION("ints are accepted for floats and stored as floats") {
    Config config = compose_text("[train]\nlr = 1\n[eval]\ntemperatures = [1, 2]\n");
    CHECK(config.get_float("train.lr") == 1.0);
    CHECK(config.table()["train"]["lr"].is_floating_point());
    CHECK(config.get_float_list("eval.temperatures") == std::vector<double>{1.0, 2.0});
  }
  SECTION("free sections accept any keys") {
    Config config = compose_text("[extra]\nnote = \"x\"\nsub.value = 2\n");
    CHECK(config.get_string("extra.note") == "x");
    CHECK(config.get_int("extra.sub.value") == 2);
  }
  SECTION("a bad defaults list") {
    CHECK_THROWS_WITH(compose_text("defaults = \"model/tiny\"\n"),
                      Contains(path + ":1:") && Contains("'defaults' must be an array"));
    CHECK_THROWS_WITH(compose_text("defaults = [\"tiny\"]\n"),
                      Contains(path + ":1:13") && Contains("\"group/option\""));
    CHECK_THROWS_WITH(compose_text("defaults = [\"model/tiny\", \"model/big\"]\n"),
                      Contains("group 'model' appears twice"));
  }
  SECTION("an unknown group") {
    CHECK_THROWS_WITH(compose_text("defaults = [\"modle/tiny\"]\n"),
                      Contains(path + ":1:13") && Contains("unknown group 'modle'") &&
                          Contains("did you mean 'model'?"));
  }
  SECTION("an unknown option") {
    CHECK_THROWS_WITH(compose_text("defaults = [\"variant/flash\"]\n"),
                      "unknown option 'flash' for group 'variant' (in " + path +
                          "); valid options: rope, scaled, softmax");
  }
}

TEST_CASE("option files hold keys relative to their group", "[compose][files]") {
  TempDir dir;
  Schema schema = make_schema();
  fs::path file = dir.write("experiment.toml", "defaults = [\"model/odd\"]\n");
  SECTION("an unknown key names the option file and the full key") {
    fs::path option = dir.write("model/odd.toml", "heads = 2\nd_modle = 64\n");
    CHECK_THROWS_WITH(
        compose_file(schema, file),
        option.string() + ":2:1: unknown key 'model.d_modle'; did you mean 'model.d_model'?");
  }
  SECTION("a wrong type names the option file") {
    fs::path option = dir.write("model/odd.toml", "heads = \"two\"\n");
    CHECK_THROWS_WITH(
        compose_file(schema, file),
        option.string() + ":1:9: key 'model.heads' expects int, found string \"two\"");
  }
  SECTION("a syntax error names the option file") {
    fs::path option = dir.write("model/odd.toml", "heads = \n");
    CHECK_THROWS_WITH(compose_file(schema, file), StartsWith(option.string() + ":1:"));
  }
  SECTION("a full path inside an option file is not a key of its group") {
    dir.write("model/odd.toml", "[model]\nheads = 2\n");
    CHECK_THROWS_WITH(compose_file(schema, file), Contains("unknown key 'model.model.heads'"));
  }
}

TEST_CASE("option files are looked up in the search dirs in order", "[compose][files]") {
  TempDir first;
  TempDir second;
  first.write("model/tiny.toml", "d_model = 64\n");
  second.write("model/tiny.toml", "d_model = 128\n");
  second.write("model/wide.toml", "d_model = 1024\n");
  second.write("model/notes.txt", "not an option");
  fs::path file = first.write("experiment.toml", "defaults = [\"model/tiny\"]\n");
  Schema schema = make_schema();
  auto compose_with = [&](std::vector<std::string> overrides) {
    return compose(schema, ComposeRequest{file, {first.root(), second.root()}, overrides});
  };
  CHECK(compose_with({}).get_int("model.d_model") == 64);
  CHECK(compose_with({"model=wide"}).get_int("model.d_model") == 1024);
  CHECK(group_options({first.root(), second.root()}, "model") ==
        std::vector<std::string>{"tiny", "wide"});
  CHECK(group_options({first.root()}, "variant").empty());
  CHECK_THROWS_WITH(compose_with({"model=huge"}), Contains("valid options: tiny, wide"));
}

TEST_CASE("validation: ranges, choices and list elements, saying where values came from",
          "[compose][validation]") {
  Fixture fixture(kStandardExperiment);
  SECTION("from an override") {
    CHECK_THROWS_WITH(fixture.compose({"train.lr=-1"}),
                      "key 'train.lr' = -1: must be > 0 (from override 'train.lr=-1')");
    CHECK_THROWS_WITH(fixture.compose({"model.dropout=1.5"}),
                      "key 'model.dropout' = 1.5: must be >= 0 and <= 1 (from override "
                      "'model.dropout=1.5')");
    CHECK_THROWS_WITH(fixture.compose({"model.dropout=nan"}), Contains("must be >= 0 and <= 1"));
    CHECK_THROWS_WITH(fixture.compose({"seed=-1"}), Contains("key 'seed' = -1: must be >= 0"));
  }
  SECTION("choices") {
    CHECK_THROWS_WITH(fixture.compose({"variant.name=flash"}),
                      "key 'variant.name' = \"flash\": must be one of: softmax, rope, alibi, "
                      "scaled (from override 'variant.name=flash')");
  }
  SECTION("each list element") {
    CHECK_THROWS_WITH(fixture.compose({"eval.lengths=[64,0]"}),
                      "key 'eval.lengths' = [64, 0]: element 2 (0) must be >= 1 (from override "
                      "'eval.lengths=[64,0]')");
    CHECK_THROWS_WITH(fixture.compose({"eval.tags=[fast, 'a b', bogus]"}),
                      Contains("element 3 (\"bogus\") must be one of: fast, slow, a b"));
  }
  SECTION("from the config file") {
    Fixture bad("seed = 2\n[train]\nlr = 0.0\n");
    CHECK_THROWS_WITH(bad.compose(), "key 'train.lr' = 0: must be > 0 (from " + bad.path() + ":3)");
  }
  SECTION("from an option file") {
    fs::path option = fixture.dir.write("model/broken.toml", "d_model = 0\n");
    CHECK_THROWS_WITH(
        fixture.compose({"model=broken"}),
        Contains("key 'model.d_model' = 0") && Contains("(from " + option.string() + ":1)"));
  }
  SECTION("from the option name") {
    fixture.dir.write("variant/flashy.toml", "");
    CHECK_THROWS_WITH(fixture.compose({"variant=flashy"}),
                      Contains("key 'variant.name' = \"flashy\"") &&
                          Contains("(from defaults entry 'variant/flashy')"));
  }
  SECTION("from a code default") {
    Schema schema = make_schema();
    schema.add("train.warmup", Type::Int, -5, "Warmup steps.", at_least(0));
    CHECK_THROWS_WITH(compose_file(schema, fixture.file),
                      "key 'train.warmup' = -5: must be >= 0 (from code default)");
  }
  SECTION("values within range pass") {
    CHECK_NOTHROW(fixture.compose({"model.dropout=1", "model.dropout=0", "train.lr=1e-9"}));
  }
}

TEST_CASE("cross-checks run after constraints, in order", "[compose][validation]") {
  Fixture fixture(kStandardExperiment);
  SECTION("a failing check's message is the error") {
    CHECK_THROWS_WITH(fixture.compose({"model.heads=3"}),
                      "model.d_model must be divisible by model.heads");
  }
  SECTION("constraints first, so checks see valid values") {
    CHECK_THROWS_WITH(fixture.compose({"model.heads=0"}),
                      Contains("key 'model.heads' = 0: must be >= 1"));
  }
  SECTION("checks run in declaration order; other exceptions become ConfigError") {
    fixture.schema.add_check([](const Config&) { throw std::runtime_error("first extra check"); });
    fixture.schema.add_check([](const Config&) { throw ConfigError("second extra check"); });
    CHECK_THROWS_AS(fixture.compose(), ConfigError);
    CHECK_THROWS_WITH(fixture.compose(), Contains("first extra check"));
  }
  SECTION("a check sees the composed values") {
    std::int64_t seen = 0;
    fixture.schema.add_check([&](const Config& config) { seen = config.get_int("train.steps"); });
    fixture.compose({"train.steps=42"});
    CHECK(seen == 42);
  }
}

TEST_CASE("round trip: compose, write to_toml, compose it again", "[compose][round-trip]") {
  Fixture fixture(kStandardExperiment);
  Config first = fixture.compose({"model=big", "train.lr=3e-4", "model.dropout=0.1",
                                  "eval.temperatures=[0.7, 1e-7, 2]", "eval.tags=['a b', fast]",
                                  R"(experiment.name='it\'s "quoted" \\ done')", "+extra.zeta=1",
                                  "+extra.alpha=[x, 'y z']", "+extra.ratio=1e300",
                                  "+extra.deep.flag=true", "train.steps=123456789"});
  std::string text = first.to_toml();
  fs::path resolved = fixture.dir.write("run/config.toml", text);

  Config second = compose(fixture.schema, ComposeRequest{resolved, {}, {}});
  CHECK(second.to_toml() == text);
  CHECK(second.hash() == first.hash());
  CHECK(second.get_float("train.lr") == 3e-4);
  CHECK(second.get_float("model.dropout") == 0.1);
  CHECK(second.get_float_list("eval.temperatures") == std::vector<double>{0.7, 1e-7, 2.0});
  CHECK(second.get_string("experiment.name") == R"(it's "quoted" \ done)");
  CHECK(second.get_string("model.name") == "large");
  CHECK(second.get_string_list("extra.alpha") == std::vector<std::string>{"x", "y z"});
  CHECK(second.get_bool("extra.deep.flag"));

  SECTION("the resolved file has no defaults list and reads as documented") {
    CHECK(text.find("defaults") == std::string::npos);
    CHECK_THAT(text, Contains("lr = 3e-4\n") && Contains("dropout = 0.1\n") &&
                         Contains("ratio = 1e300\n"));
  }
  SECTION("overrides on top of a resolved file work as on any config file") {
    Config third = compose(fixture.schema, ComposeRequest{resolved, {}, {"train.steps=1"}});
    CHECK(third.get_int("train.steps") == 1);
    CHECK(third.hash() != first.hash());
  }
}

TEST_CASE("every user-facing problem is a ConfigError", "[compose][errors]") {
  Fixture fixture(kStandardExperiment);
  SECTION("bad overrides") {
    auto text =
        GENERATE(as<std::string>{}, "", "train.lr", "train.lr=[1", "train.lrr=1", "train.steps=abc",
                 "model.name=null", "+train.foo=1", "+train.lr=1", "~extra.none", "~train.lr=5",
                 "variant=flash", "train=short", "+model=big", "~train", "variant=[a]",
                 "train.lr=-1", "model.heads=3", "+extra.a=1 2", "eval.lengths=64");
    INFO("override: " << text);
    CHECK_THROWS_AS(fixture.compose({text}), ConfigError);
  }
  SECTION("bad files") {
    auto text = GENERATE(as<std::string>{}, "seed = = 1", "[train]\nlrr = 1", "seed = \"one\"",
                         "defaults = 3", "defaults = [\"x/y\"]", "defaults = [\"model/none\"]",
                         "train = 1", "[train]\nlr = 0", "\"bad key\" = 1",
                         "[extra]\n\"bad key\" = 1", "defaults = [1]");
    INFO("file: " << text);
    fs::path file = fixture.dir.write("bad.toml", text);
    CHECK_THROWS_AS(compose_file(fixture.schema, file), ConfigError);
  }
}
