// Hydra's override grammar: parse_override() and parse_value(), without composition.
#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include "config_test_support.h"

using namespace attnlab::config;
using namespace attnlab::config::testing;
using Catch::Contains;

namespace {

KeyDoc key_of(std::string key, Type type) { return KeyDoc{std::move(key), type, {}, "", {}}; }

std::int64_t parse_int(std::string_view raw) {
  auto node = parse_value(raw, key_of("train.steps", Type::Int));
  REQUIRE(node->is_integer());
  return node->as_integer()->get();
}

double parse_float(std::string_view raw) {
  auto node = parse_value(raw, key_of("train.lr", Type::Float));
  REQUIRE(node->is_floating_point());
  return node->as_floating_point()->get();
}

bool parse_bool(std::string_view raw) {
  auto node = parse_value(raw, key_of("train.use_amp", Type::Bool));
  REQUIRE(node->is_boolean());
  return node->as_boolean()->get();
}

std::string parse_string(std::string_view raw) {
  auto node = parse_value(raw, key_of("experiment.name", Type::String));
  REQUIRE(node->is_string());
  return node->as_string()->get();
}

template <typename T>
std::vector<T> parse_list(std::string_view raw, Type type) {
  auto node = parse_value(raw, key_of("eval.list", type));
  REQUIRE(node->is_array());
  std::vector<T> values;
  for (const toml::node& element : *node->as_array()) values.push_back(*element.value<T>());
  return values;
}

// The caret line: two spaces of indent, then one space per column before N.
std::string caret_at(std::size_t column) { return "\n  " + std::string(column - 1, ' ') + "^"; }

void check_malformed(const std::string& text, const std::string& reason, std::size_t column) {
  INFO("override: " << text);
  CHECK_THROWS_AS(parse_override(text), ConfigError);
  CHECK_THROWS_WITH(parse_override(text), Contains("malformed override '" + text + "'") &&
                                              Contains(reason) &&
                                              Contains("at column " + std::to_string(column)) &&
                                              Contains("\n  " + text + caret_at(column)));
}

}  // namespace

TEST_CASE("parse_override recognises set, add, force-add and delete", "[overrides]") {
  SECTION("key=value sets") {
    Override o = parse_override("train.lr=3e-4");
    CHECK(o.kind == Override::Kind::Set);
    CHECK(o.key == "train.lr");
    CHECK(o.raw_value == "3e-4");
    CHECK(o.text == "train.lr=3e-4");
  }
  SECTION("a group name is parsed like any key") {
    Override o = parse_override("variant=rope");
    CHECK(o.kind == Override::Kind::Set);
    CHECK(o.key == "variant");
    CHECK(o.raw_value == "rope");
  }
  SECTION("+key=value adds") {
    Override o = parse_override("+extra.note=hello");
    CHECK(o.kind == Override::Kind::Add);
    CHECK(o.key == "extra.note");
    CHECK(o.raw_value == "hello");
  }
  SECTION("++key=value adds or overrides") {
    Override o = parse_override("++train.lr=1");
    CHECK(o.kind == Override::Kind::ForceAdd);
    CHECK(o.key == "train.lr");
    CHECK(o.raw_value == "1");
  }
  SECTION("~key deletes without a value") {
    Override o = parse_override("~train.lr");
    CHECK(o.kind == Override::Kind::Delete);
    CHECK(o.key == "train.lr");
    CHECK_FALSE(o.raw_value.has_value());
  }
  SECTION("~key=value deletes on a matching value") {
    Override o = parse_override("~train.lr=0.1");
    CHECK(o.kind == Override::Kind::Delete);
    CHECK(o.raw_value == "0.1");
  }
  SECTION("key= gives the empty value") {
    Override o = parse_override("experiment.name=");
    CHECK(o.raw_value == "");
    CHECK(parse_string(*o.raw_value).empty());
  }
  SECTION("the value keeps quotes, brackets and spaces as typed") {
    Override o = parse_override("eval.tags=[a, 'b c']");
    CHECK(o.raw_value == "[a, 'b c']");
  }
}

TEST_CASE("int values", "[overrides][values]") {
  CHECK(parse_int("3") == 3);
  CHECK(parse_int("-2") == -2);
  CHECK(parse_int("+7") == 7);
  CHECK(parse_int("0") == 0);
  CHECK(parse_int("9223372036854775807") == std::numeric_limits<std::int64_t>::max());
}

TEST_CASE("float values, including ints, exponents, inf and nan", "[overrides][values]") {
  CHECK(parse_float("1e-3") == 1e-3);
  CHECK(parse_float("3e-4") == 3e-4);
  CHECK(parse_float("3E-4") == 3e-4);
  CHECK(parse_float(".5") == 0.5);
  CHECK(parse_float("1.") == 1.0);
  CHECK(parse_float("-2.5") == -2.5);
  CHECK(parse_float("+1.5e2") == 150.0);
  CHECK(parse_float("2") == 2.0);
  CHECK(parse_float("inf") == std::numeric_limits<double>::infinity());
  CHECK(parse_float("-inf") == -std::numeric_limits<double>::infinity());
  CHECK(parse_float("INF") == std::numeric_limits<double>::infinity());
  CHECK(std::isnan(parse_float("nan")));
  CHECK(std::isnan(parse_float("NaN")));
}

TEST_CASE("bool values are case-insensitive like Hydra's", "[overrides][values]") {
  CHECK(parse_bool("true"));
  CHECK(parse_bool("True"));
  CHECK_FALSE(parse_bool("false"));
  CHECK_FALSE(parse_bool("FALSE"));
}

TEST_CASE("string values: quoted, escaped, bare, and numbers as typed", "[overrides][values]") {
  CHECK(parse_string("'a b'") == "a b");
  CHECK(parse_string("\"a,b\"") == "a,b");
  CHECK(parse_string(R"('it\'s')") == "it's");
  CHECK(parse_string(R"("say \"hi\"")") == "say \"hi\"");
  CHECK(parse_string(R"('back\\slash')") == "back\\slash");
  CHECK(parse_string(R"('C:\data')") == "C:\\data");
  CHECK(parse_string("models/tiny.pt") == "models/tiny.pt");
  CHECK(parse_string("run-1:final") == "run-1:final");
  CHECK(parse_string("snake_case") == "snake_case");
  CHECK(parse_string("123") == "123");
  CHECK(parse_string("1e-3") == "1e-3");
  CHECK(parse_string("true") == "true");
  CHECK(parse_string("'123'") == "123");
  CHECK(parse_string("''") == "");
  CHECK(parse_string("  padded  ") == "padded");
}

TEST_CASE("null is refused for declared keys", "[overrides][values]") {
  for (Type type : {Type::Int, Type::Float, Type::String, Type::IntList}) {
    CHECK_THROWS_WITH(parse_value("null", key_of("train.x", type)),
                      Contains("key 'train.x' cannot be null"));
  }
  CHECK_THROWS_WITH(parse_value("NULL", key_of("train.x", Type::String)),
                    Contains("cannot be null"));
}

TEST_CASE("UTF-8 text passes through", "[overrides][values]") {
  const auto node = parse_value("'Größe 注意'", key_of("experiment.name", Type::String));
  CHECK(*node->value<std::string>() == "Größe 注意");
}

TEST_CASE("list values", "[overrides][values][lists]") {
  SECTION("int lists, with or without spaces") {
    CHECK(parse_list<std::int64_t>("[64,128]", Type::IntList) ==
          std::vector<std::int64_t>{64, 128});
    CHECK(parse_list<std::int64_t>("[ 64 , 128 ]", Type::IntList) ==
          std::vector<std::int64_t>{64, 128});
    CHECK(parse_list<std::int64_t>("[-1]", Type::IntList) == std::vector<std::int64_t>{-1});
  }
  SECTION("empty lists") {
    CHECK(parse_list<std::int64_t>("[]", Type::IntList).empty());
    CHECK(parse_list<std::string>("[ ]", Type::StringList).empty());
  }
  SECTION("float lists accept ints") {
    CHECK(parse_list<double>("[1, 0.5, 1e-3]", Type::FloatList) ==
          std::vector<double>{1.0, 0.5, 1e-3});
  }
  SECTION("string lists mix bare and quoted elements") {
    CHECK(parse_list<std::string>("[a, 'b c', \"d,e\", 12]", Type::StringList) ==
          std::vector<std::string>{"a", "b c", "d,e", "12"});
  }
}

TEST_CASE("values of the wrong type name the key, the type and the value", "[overrides][values]") {
  auto steps = key_of("train.steps", Type::Int);
  CHECK_THROWS_WITH(parse_value("abc", steps), "key 'train.steps' expects int, got 'abc'");
  CHECK_THROWS_WITH(parse_value("1.5", steps), Contains("expects int, got '1.5'"));
  CHECK_THROWS_WITH(parse_value("true", steps), Contains("expects int, got 'true'"));
  CHECK_THROWS_WITH(parse_value("'3'", steps), Contains("expects int"));
  SECTION("a scalar key given a list") {
    CHECK_THROWS_WITH(parse_value("[1,2]", steps), Contains("expects int, got '[1,2]'"));
    CHECK_THROWS_WITH(parse_value("[a]", key_of("experiment.name", Type::String)),
                      Contains("expects string"));
  }
  SECTION("a list key given a scalar or wrong elements") {
    auto lengths = key_of("eval.lengths", Type::IntList);
    CHECK_THROWS_WITH(parse_value("64", lengths), "key 'eval.lengths' expects list[int], got '64'");
    CHECK_THROWS_WITH(parse_value("[64,a]", lengths), Contains("expects list[int], got '[64,a]'"));
    CHECK_THROWS_WITH(parse_value("[[1]]", lengths), Contains("expects list[int]"));
    CHECK_THROWS_WITH(parse_value("[1.5]", lengths), Contains("expects list[int]"));
    CHECK_THROWS_WITH(parse_value("[a]", key_of("eval.temps", Type::FloatList)),
                      Contains("expects list[float]"));
  }
  SECTION("bools are only true and false") {
    CHECK_THROWS_WITH(parse_value("yes", key_of("train.use_amp", Type::Bool)),
                      "key 'train.use_amp' expects bool, got 'yes'");
    CHECK_THROWS_WITH(parse_value("1", key_of("train.use_amp", Type::Bool)),
                      Contains("expects bool"));
  }
  SECTION("floats reject words") {
    CHECK_THROWS_WITH(parse_value("fast", key_of("train.lr", Type::Float)),
                      "key 'train.lr' expects float, got 'fast'");
    CHECK_THROWS_WITH(parse_value("1e", key_of("train.lr", Type::Float)),
                      Contains("expects float"));
  }
}

TEST_CASE("malformed overrides report the reason, the column and a caret", "[overrides][errors]") {
  SECTION("empty text") { check_malformed("", "empty override", 1); }
  SECTION("no '=' for set, add and force-add") {
    check_malformed("train.lr", "missing '='", 9);
    check_malformed("+extra.note", "missing '='", 12);
    check_malformed("++train.lr", "missing '='", 11);
  }
  SECTION("empty key") {
    check_malformed("=3", "empty key", 1);
    check_malformed("+=3", "empty key", 2);
    check_malformed("~", "empty key", 2);
  }
  SECTION("bad key characters and empty segments") {
    check_malformed("train-lr=1", "invalid character '-' in key", 6);
    check_malformed("train.l r=1", "invalid character ' ' in key", 8);
    check_malformed("train..lr=1", "empty key segment", 7);
    check_malformed(".lr=1", "empty key segment", 1);
    check_malformed("train.=1", "key ends with '.'", 6);
    check_malformed("+++extra.x=1", "invalid character '+' in key", 3);
  }
  SECTION("unterminated quotes point at the opening quote") {
    check_malformed("experiment.name='abc", "unterminated quoted string", 17);
    check_malformed("experiment.name=\"abc'", "unterminated quoted string", 17);
    check_malformed("eval.tags=[a, 'b]", "unterminated quoted string", 15);
  }
  SECTION("unbalanced brackets") {
    check_malformed("eval.lengths=[1,2", "unbalanced brackets", 14);
    check_malformed("eval.lengths=[[1,2]", "unbalanced brackets", 14);
    check_malformed("eval.lengths=1]", "unbalanced brackets", 15);
    check_malformed("eval.lengths=[1,2]]", "unbalanced brackets", 19);
  }
  SECTION("trailing junk after a quoted string or a list") {
    check_malformed("experiment.name='a'b", "unexpected 'b' after the value", 20);
    check_malformed("eval.lengths=[1,2]x", "unexpected 'x' after the value", 19);
    check_malformed("experiment.name=a b", "unexpected 'b' after the value", 19);
  }
  SECTION("bad list punctuation") {
    check_malformed("eval.lengths=[1,,2]", "unexpected character ','", 17);
    check_malformed("eval.lengths=[1,]", "expected a value after ','", 17);
    check_malformed("eval.lengths=[1 2]", "expected ',' or ']'", 17);
  }
  SECTION("characters that start no value") {
    check_malformed("experiment.name=${oc.env:USER}", "unexpected character '$'", 17);
    check_malformed("experiment.name=,", "unexpected character ','", 17);
  }
  SECTION("bytes that are not UTF-8, which config.toml could not hold") {
    check_malformed("experiment.name=ab\xff", "invalid UTF-8", 19);
    check_malformed("experiment.name=\xc0\xaf", "invalid UTF-8", 17);  // overlong '/'
    check_malformed("experiment.name=\xed\xa0\x80", "invalid UTF-8", 17);  // a surrogate
  }
  SECTION("lists nested deeper than any value needs (the parser recurses per level)") {
    const std::string deep = std::string(101, '[') + std::string(101, ']');
    check_malformed("eval.lengths=" + deep, "lists nested more than 100 deep", 114);
    // 40000 levels once overflowed the stack.
    CHECK_THROWS_AS(parse_override("eval.lengths=" + std::string(40000, '[')), ConfigError);
  }
}

TEST_CASE("parse_value reports syntax errors with a caret in the value", "[overrides][errors]") {
  CHECK_THROWS_WITH(parse_value("[1,2", key_of("eval.lengths", Type::IntList)),
                    Contains("malformed value '[1,2'") && Contains("unbalanced brackets") &&
                        Contains("at column 1") && Contains("\n  [1,2" + caret_at(1)));
}
