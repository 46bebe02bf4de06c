// Schema declarations, "did you mean", document(), and the resolved Config: getters, to_toml()
// and hash().
#include <cmath>
#include <cstdio>
#include <limits>

#include <catch2/catch.hpp>

#include "config_test_support.h"

using namespace attnlab::config;
using namespace attnlab::config::testing;
using Catch::Contains;
using Catch::StartsWith;

namespace {

Config compose_defaults(const Schema& schema, std::vector<std::string> overrides = {}) {
  TempDir dir;
  return compose_file(schema, dir.write("experiment.toml", ""), std::move(overrides));
}

std::string fnv1a_hex(const std::string& text) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(hash));
  return buffer;
}

}  // namespace

TEST_CASE("Schema declares keys, groups, free sections and checks", "[schema]") {
  Schema schema = make_schema();
  REQUIRE(schema.find("train.lr") != nullptr);
  CHECK(schema.find("train.lr")->type == Type::Float);
  CHECK(std::get<double>(schema.find("train.lr")->default_value) == 1e-3);
  CHECK(schema.find("train.lr")->doc == "Learning rate.");
  CHECK(schema.find("train.lr")->constraint.min_exclusive);
  CHECK(schema.find("train") == nullptr);
  CHECK(schema.find("nope") == nullptr);
  CHECK(schema.keys().front().key == "seed");
  CHECK(schema.groups() == std::vector<std::string>{"model", "variant", "train"});
  CHECK(schema.is_group("variant"));
  CHECK_FALSE(schema.is_group("eval"));
  CHECK(schema.is_free_section("extra"));
  CHECK_FALSE(schema.is_free_section("train"));
  CHECK(schema.checks().size() == 1);
  CHECK(schema.sections() ==
        std::vector<std::string>{"experiment", "model", "variant", "train", "eval", "extra"});
}

TEST_CASE("Schema::add normalises int defaults of float keys", "[schema]") {
  Schema schema;
  schema.add("train.lr", Type::Float, 1, "")
      .add("eval.temps", Type::FloatList, std::vector<std::int64_t>{1, 2}, "");
  CHECK(std::get<double>(schema.find("train.lr")->default_value) == 1.0);
  CHECK(std::get<std::vector<double>>(schema.find("eval.temps")->default_value) ==
        std::vector<double>{1.0, 2.0});
}

TEST_CASE("Schema::add rejects inconsistent declarations", "[schema][errors]") {
  Schema schema;
  schema.add("train.lr", Type::Float, 0.1, "");
  CHECK_THROWS_WITH(schema.add("train.lr", Type::Float, 0.1, ""), Contains("declared twice"));
  CHECK_THROWS_WITH(schema.add("train", Type::Int, 1, ""), Contains("conflicts with 'train.lr'"));
  CHECK_THROWS_WITH(schema.add("train.lr.x", Type::Int, 1, ""), Contains("conflicts"));
  CHECK_THROWS_WITH(schema.add("train-x.y", Type::Int, 1, ""), Contains("invalid key"));
  CHECK_THROWS_WITH(schema.add("train..y", Type::Int, 1, ""), Contains("invalid key"));
  CHECK_THROWS_WITH(schema.add("defaults", Type::Int, 1, ""), Contains("reserved"));
  CHECK_THROWS_WITH(schema.add("train.steps", Type::Int, "ten", ""),
                    Contains("default of 'train.steps' is not a int"));
  CHECK_THROWS_WITH(schema.add("train.name", Type::String, 1, "", at_least(0)),
                    Contains("range needs a numeric type"));
  CHECK_THROWS_WITH(schema.add("train.n", Type::Int, 1, "", one_of({"a"})),
                    Contains("choices need a string type"));
  schema.add_group("model");
  CHECK_THROWS_WITH(schema.add("model", Type::Int, 1, ""), Contains("conflicts"));
  schema.add("seed", Type::Int, 0, "");
  CHECK_THROWS_WITH(schema.add_free_section("seed"), Contains("conflicts"));
  CHECK_THROWS_WITH(schema.add_group("a.b"), Contains("invalid group name"));
}

TEST_CASE("Schema::nearest suggests declared keys by edit distance", "[schema]") {
  Schema schema = make_schema();
  CHECK(schema.nearest("train.lrr").front() == "train.lr");
  CHECK(schema.nearest("trian.lr").front() == "train.lr");
  CHECK(schema.nearest("model.hedas").front() == "model.heads");
  CHECK(schema.nearest("sed").front() == "seed");
  SECTION("the last component alone finds keys given in the wrong section") {
    CHECK(schema.nearest("lr").front() == "train.lr");
    CHECK(schema.nearest("optim.steps").front() == "train.steps");
  }
  SECTION("nothing close, nothing suggested") { CHECK(schema.nearest("qqqq.zzzz").empty()); }
  SECTION("count limits the answer") {
    CHECK(schema.nearest("model.name", 1) == std::vector<std::string>{"model.name"});
    CHECK(schema.nearest("model.nam", 3).size() <= 3);
    CHECK(schema.nearest("name", 2) == std::vector<std::string>{"experiment.name", "model.name"});
  }
}

TEST_CASE("Schema::document lists every key with type, default, constraint and doc",
          "[schema][doc]") {
  Schema schema = make_schema();
  std::string text = schema.document();
  for (const KeyDoc& doc : schema.keys()) {
    INFO(doc.key);
    CHECK_THAT(text, Contains(doc.key + " : " + std::string(type_name(doc.type))));
    CHECK_THAT(text, Contains(doc.doc));
  }
  CHECK_THAT(text, Contains("train.lr : float = 0.001  [> 0]"));
  CHECK_THAT(text, Contains("model.dropout : float = 0.0  [>= 0 and <= 1]"));
  CHECK_THAT(text, Contains("variant.name : string = \"softmax\"  [one of: softmax, rope, alibi, "
                            "scaled]"));
  CHECK_THAT(text, Contains("eval.lengths : list[int] = [64, 128]  [>= 1]"));
  CHECK_THAT(text, Contains("train.use_amp : bool = false\n"));
  CHECK_THAT(text, Contains("[model]  group: pick an option file with model=<option>"));
  CHECK_THAT(text, Contains("[extra]  free section: add keys with +extra.<key>=<value>"));
  SECTION("grouped by section, in declaration order, top-level keys first") {
    std::size_t top = text.find("(top level)");
    std::size_t seed = text.find("  seed : int");
    std::size_t model = text.find("[model]");
    std::size_t d_model = text.find("model.d_model :");
    std::size_t train = text.find("[train]");
    std::size_t lr = text.find("train.lr :");
    std::size_t extra = text.find("[extra]");
    CHECK(top < seed);
    CHECK(seed < model);
    CHECK(model < d_model);
    CHECK(d_model < train);
    CHECK(train < lr);
    CHECK(lr < extra);
  }
}

TEST_CASE("type_name and describe_constraint", "[schema]") {
  CHECK(type_name(Type::Bool) == "bool");
  CHECK(type_name(Type::Int) == "int");
  CHECK(type_name(Type::Float) == "float");
  CHECK(type_name(Type::String) == "string");
  CHECK(type_name(Type::IntList) == "list[int]");
  CHECK(type_name(Type::FloatList) == "list[float]");
  CHECK(type_name(Type::StringList) == "list[string]");
  CHECK(describe_constraint({}).empty());
  CHECK(describe_constraint(above(0)) == "> 0");
  CHECK(describe_constraint(between(1e-3, 8)) == ">= 0.001 and <= 8");
  CHECK(describe_constraint(one_of({"a", "b"})) == "one of: a, b");
}

TEST_CASE("Config getters by dotted key", "[config]") {
  Config config = compose_defaults(make_schema(), {"+extra.whole=3", "+extra.mixed=[1, 2.5]"});
  CHECK(config.has("train.lr"));
  CHECK(config.has("train"));
  CHECK_FALSE(config.has("train.nope"));
  CHECK_FALSE(config.has("train.lr.deeper"));
  CHECK(config.get_int("model.d_model") == 32);
  CHECK(config.get_float("train.lr") == 1e-3);
  CHECK(config.get_string("variant.name") == "softmax");
  CHECK_FALSE(config.get_bool("train.use_amp"));
  CHECK(config.get_int_list("eval.lengths") == std::vector<std::int64_t>{64, 128});
  CHECK(config.get_float_list("eval.temperatures") == std::vector<double>{1.0});
  CHECK(config.get_string_list("eval.tags").empty());
  SECTION("get_float and get_float_list accept ints") {
    CHECK(config.get_float("extra.whole") == 3.0);
    CHECK(config.get_float("model.d_model") == 32.0);
    CHECK(config.get_float_list("extra.mixed") == std::vector<double>{1.0, 2.5});
    CHECK(config.get_float_list("eval.lengths") == std::vector<double>{64.0, 128.0});
  }
  SECTION("missing keys and wrong types are ConfigErrors naming the key") {
    CHECK_THROWS_AS(config.get_int("train.nope"), ConfigError);
    CHECK_THROWS_WITH(config.get_int("train.nope"), Contains("'train.nope'"));
    CHECK_THROWS_WITH(config.get_int("train.lr"), Contains("'train.lr'") && Contains("not an int"));
    CHECK_THROWS_WITH(config.get_string("train.steps"), Contains("not a string"));
    CHECK_THROWS_WITH(config.get_bool("train"), Contains("not a bool"));
    CHECK_THROWS_WITH(config.get_int_list("extra.mixed"), Contains("not a list of ints"));
    CHECK_THROWS_WITH(config.get_string_list("train.lr"), Contains("not a list of strings"));
    CHECK_THROWS_AS(config.get_float(""), ConfigError);
  }
}

TEST_CASE("to_toml: header, top-level keys, then sections in schema order", "[config][toml]") {
  Config config = compose_defaults(
      make_schema(), {"+extra.zeta=1", "+extra.alpha='a'", "experiment.name='say \"hi\"\\\\'"});
  std::string text = config.to_toml();
  CHECK_THAT(text, StartsWith("# resolved by attnlab; reproduce with: attnlab train --config "
                              "<this file>\n"));
  std::size_t seed = text.find("\nseed = 0\n");
  std::size_t experiment = text.find("\n[experiment]\n");
  std::size_t model = text.find("\n[model]\n");
  std::size_t variant = text.find("\n[variant]\n");
  std::size_t train = text.find("\n[train]\n");
  std::size_t eval = text.find("\n[eval]\n");
  std::size_t extra = text.find("\n[extra]\n");
  REQUIRE(extra != std::string::npos);
  CHECK(seed < experiment);
  CHECK(experiment < model);
  CHECK(model < variant);
  CHECK(variant < train);
  CHECK(train < eval);
  CHECK(eval < extra);
  SECTION("keys keep declaration order; added keys follow, sorted") {
    CHECK_THAT(text,
               Contains("[model]\nname = \"none\"\nd_model = 32\nheads = 2\ndropout = 0.0\n"));
    CHECK_THAT(text, Contains("[extra]\nalpha = \"a\"\nzeta = 1\n"));
  }
  SECTION("values in TOML syntax") {
    CHECK_THAT(text, Contains("lr = 0.001\n") && Contains("use_amp = false\n") &&
                         Contains("lengths = [64, 128]\n") && Contains("temperatures = [1.0]\n") &&
                         Contains("tags = []\n") && Contains(R"(name = "say \"hi\"\\")"));
  }
  SECTION("the text parses back to the same values") {
    toml::table parsed = toml::parse(text);
    CHECK(parsed["train"]["lr"].value<double>() == 1e-3);
    CHECK(parsed["experiment"]["name"].value<std::string>() == "say \"hi\"\\");
    CHECK(parsed["extra"]["zeta"].value<std::int64_t>() == 1);
  }
}

TEST_CASE("to_toml prints floats that round-trip exactly", "[config][toml]") {
  double value =
      GENERATE(0.001, 3e-4, 0.1, 1.0 / 3.0, 1e-300, 5e-324, 1.7976931348623157e308, 123456789.125,
               -0.0, 1e20, 1e-7, 2.0, -2.5, std::numeric_limits<double>::infinity(),
               -std::numeric_limits<double>::infinity());
  toml::table table;
  table.insert("x", value);
  std::string text = Config(table).to_toml();
  INFO(text);
  auto parsed = toml::parse(text)["x"].value<double>();
  REQUIRE(parsed.has_value());
  CHECK(*parsed == value);
  CHECK(std::signbit(*parsed) == std::signbit(value));
  SECTION("readable forms") {
    if (value == 0.001) CHECK_THAT(text, Contains("x = 0.001\n"));
    if (value == 3e-4) CHECK_THAT(text, Contains("x = 3e-4\n"));
    if (value == 2.0) CHECK_THAT(text, Contains("x = 2.0\n"));
    if (value == 1e20) CHECK_THAT(text, Contains("x = 1e20\n"));
  }
}

TEST_CASE("to_toml prints nan as nan", "[config][toml]") {
  toml::table table;
  table.insert("x", std::numeric_limits<double>::quiet_NaN());
  std::string text = Config(table).to_toml();
  CHECK_THAT(text, Contains("x = nan\n"));
  CHECK(std::isnan(*toml::parse(text)["x"].value<double>()));
}

TEST_CASE("Config built from a bare table prints sections sorted", "[config][toml]") {
  toml::table table;
  table.insert("b", toml::table{{"y", 1}});
  table.insert("a", toml::table{{"x", "s"}});
  table.insert("top", true);
  CHECK(Config(table).to_toml() ==
        "# resolved by attnlab; reproduce with: attnlab train --config <this file>\n"
        "top = true\n\n[a]\nx = \"s\"\n\n[b]\ny = 1\n");
}

TEST_CASE("hash is FNV-1a 64 of to_toml without the header comment", "[config][hash]") {
  Schema schema = make_schema();
  Config config = compose_defaults(schema);
  std::string text = config.to_toml();
  std::string body = text.substr(text.find('\n') + 1);
  CHECK(config.hash() == fnv1a_hex(body));
  CHECK(config.hash().size() == 16);
  CHECK(config.hash().find_first_not_of("0123456789abcdef") == std::string::npos);
  SECTION("equal configs hash equal however they were composed") {
    CHECK(compose_defaults(schema, {"+extra.a=1", "+extra.b=2"}).hash() ==
          compose_defaults(schema, {"+extra.b=2", "+extra.a=1"}).hash());
    CHECK(compose_defaults(schema, {"train.lr=0.001"}).hash() == config.hash());
  }
  SECTION("any change changes the hash") {
    CHECK(compose_defaults(schema, {"train.lr=0.002"}).hash() != config.hash());
    CHECK(compose_defaults(schema, {"+extra.a=1"}).hash() != config.hash());
  }
}
