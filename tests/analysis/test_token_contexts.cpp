// The distances `attnlab probe --token` ranks heads by: Jensen-Shannon distances (base 2) between
// two attention rows aligned by relative position and by attended token, and where a token occurs.
#include <catch2/catch.hpp>

#include <cmath>

#include "analysis/heads/token_contexts.h"

using namespace attnlab;

TEST_CASE("rows are compared by relative position and by attended token", "[analysis]") {
  // Two inputs: "a b c d" and "x a b c"; each row's query is the last token.
  const std::int64_t first_keys[] = {1, 2, 3, 4};
  const std::int64_t second_keys[] = {9, 1, 2, 3};
  // Both look one token back: equal by position; by token one reads c, the other b.
  const std::vector<float> previous_first = {0, 0, 1, 0};
  const std::vector<float> previous_second = {0, 0, 1, 0};
  CHECK(heads::distance_by_position(previous_first, 3, previous_second, 3) == Approx(0.0));
  CHECK(heads::distance_by_token(previous_first, previous_second, first_keys, second_keys) ==
        Approx(1.0));
  // Both read token 1 ("a"), at different distances: equal by token, apart by position.
  const std::vector<float> on_a_first = {1, 0, 0, 0};   // 3 back
  const std::vector<float> on_a_second = {0, 1, 0, 0};  // 2 back
  CHECK(heads::distance_by_token(on_a_first, on_a_second, first_keys, second_keys) ==
        Approx(0.0).margin(1e-12));
  CHECK(heads::distance_by_position(on_a_first, 3, on_a_second, 3) == Approx(1.0));
  // Half-overlapping rows: JS = 0.5 bit, distance sqrt(0.5). Unnormalised rows are normalised.
  const std::vector<float> half_first = {2, 2, 0, 0};
  const std::vector<float> half_second = {0, 0.5f, 0.5f, 0};
  CHECK(heads::distance_by_position(half_first, 3, half_second, 3) == Approx(std::sqrt(0.5)));
  // A row without mass has no distance.
  CHECK(std::isnan(heads::distance_by_position({0, 0, 0, 0}, 3, half_second, 3)));
}

TEST_CASE("occurrences are found within each input's own length", "[analysis]") {
  // Two inputs of length 4 and 2, padded to 4 with 7s.
  const dump::Array<std::int64_t> tokens{{2, 4}, {7, 5, 7, 7, 7, 7, 7, 7}};
  const auto found = heads::find_occurrences(tokens, {4, 2}, 7);
  // Input 0 at 0, 2 and 3; input 1 at 0 and 1, its padding at 2 and 3 not.
  REQUIRE(found.size() == 5);
  CHECK(found[0].sample == 0);
  CHECK(found[0].position == 0);
  CHECK(found[2].position == 3);
  CHECK(found[3].sample == 1);
  CHECK(found[3].position == 0);
  CHECK(found[4].position == 1);
  const auto at = heads::occurrences_at({4, 2}, 3);
  REQUIRE(at.size() == 1);
  CHECK(at[0].sample == 0);
}
