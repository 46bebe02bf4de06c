// Per-head statistics on maps whose values are known by hand: uniform (bidirectional and causal),
// one-hot previous-token (aligned and with a shorter query block), a query without allowed keys,
// and output norms of hand-made values and output weights.
//
// B = samples, H = heads, Tq = queries, Tk = keys, D = head dim, C = d_model.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "experiments/record/head_statistics.h"

using namespace attnlab;
using Approx = Catch::Detail::Approx;

namespace {

float value_at(const torch::Tensor& tensor, std::int64_t index) {
  return tensor.view(-1)[index].item<float>();
}

// Every head's value of a per-head statistic [H] is `expected`.
void check_heads(const torch::Tensor& statistic, double expected, const char* name) {
  INFO(name);
  REQUIRE(statistic.dim() == 1);
  for (std::int64_t head = 0; head < statistic.size(0); ++head) {
    CHECK(value_at(statistic, head) == Approx(expected).margin(1e-6));
  }
}

torch::Tensor causal_mask(std::int64_t length) {
  return torch::ones({1, length, length}, torch::kBool).tril();  // [1,T,T]
}

}  // namespace

TEST_CASE("a uniform bidirectional map has entropy ln T and no position preference", "[record]") {
  const std::int64_t length = 10;
  const auto probs = torch::full({2, 3, length, length}, 1.0 / length);  // [B,H,T,T]
  const auto keys = record::allowed_key_counts({}, 3, length, length);   // [H,T]
  CHECK(keys.eq(length).all().item<bool>());
  const auto stats = record::map_statistics(probs, keys);
  check_heads(stats.entropy, std::log(10.0), "entropy");
  check_heads(stats.entropy_normalised, 1.0, "entropy_normalised");
  check_heads(stats.confidence, 0.1, "confidence");
  check_heads(stats.k90, 9.0, "k90");  // 9 weights of 0.1 reach 0.9
  check_heads(stats.sink_mass, 0.1, "sink_mass");
  check_heads(stats.self_mass, 0.1, "self_mass");
  check_heads(stats.previous_mass, 0.1, "previous_mass");
  check_heads(stats.next_mass, 0.1, "next_mass");
  // sum_i sum_j |i - j| = 2 * sum_{d=1..9} d (10 - d) = 330; over 10 queries of weight 1/10.
  check_heads(stats.distance, 3.3, "distance");
  REQUIRE(stats.entropy_per_query.sizes() == std::vector<std::int64_t>({3, length}));
  CHECK(value_at(stats.entropy_per_query, 4) == Approx(std::log(10.0)));
  CHECK(value_at(stats.distance_per_query, 0) == Approx(4.5));  // (0 + 1 + ... + 9) / 10
}

TEST_CASE("a uniform causal map: entropy ln(i+1) per query, normalised 1", "[record]") {
  const std::int64_t length = 12;
  const auto mask = causal_mask(length);
  const auto keys = record::allowed_key_counts(mask, 2, length, length);  // [H,T]: i + 1
  const auto probs = (mask.to(torch::kFloat) / keys[0].to(torch::kFloat).view({1, length, 1}))
                         .expand({1, 2, length, length});  // [B,H,T,T], A_ij = 1/(i+1) for j <= i
  const auto stats = record::map_statistics(probs, keys);

  double mean_log = 0.0, harmonic = 0.0;
  for (int n = 1; n <= length; ++n) {
    mean_log += std::log(n) / length;
    harmonic += 1.0 / n;
  }
  check_heads(stats.entropy, mean_log, "entropy");
  // Query 0 (one allowed key, ln 1 = 0) is left out; every other query is uniform.
  check_heads(stats.entropy_normalised, 1.0, "entropy_normalised");
  check_heads(stats.sink_mass, harmonic / length, "sink_mass");         // mean_i 1/(i+1)
  check_heads(stats.previous_mass, (harmonic - 1.0) / 11.0, "previous_mass");  // queries 1..11
  check_heads(stats.self_mass, harmonic / length, "self_mass");
  check_heads(stats.next_mass, 0.0, "next_mass");
  check_heads(stats.distance, 2.75, "distance");  // query i: i/2; mean over 0..11
  // k90 by row length n = i + 1: the fewest of n weights 1/n reaching 0.9.
  const float k90[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 10, 11};
  for (std::int64_t query = 0; query < length; ++query) {
    INFO("query " << query);
    CHECK(value_at(stats.k90_per_query, query) == k90[query]);
    CHECK(value_at(stats.entropy_per_query, query) == Approx(std::log(query + 1.0)).margin(1e-6));
    CHECK(value_at(keys, query) == query + 1);
  }
  check_heads(stats.k90, 75.0 / 12.0, "k90");
}

TEST_CASE("a one-hot previous-token map: previous mass 1, k90 1, entropy 0", "[record]") {
  const std::int64_t length = 6;
  // Query 0 can only attend to itself; every later query attends to the token before it.
  auto probs = torch::zeros({1, 1, length, length});  // [B,H,T,T]
  probs.index_put_({0, 0, 0, 0}, 1.0);
  for (std::int64_t query = 1; query < length; ++query) {
    probs.index_put_({0, 0, query, query - 1}, 1.0);
  }
  const auto keys = record::allowed_key_counts(causal_mask(length), 1, length, length);
  const auto stats = record::map_statistics(probs, keys);
  check_heads(stats.previous_mass, 1.0, "previous_mass");  // queries 1..5
  check_heads(stats.k90, 1.0, "k90");
  check_heads(stats.confidence, 1.0, "confidence");
  check_heads(stats.entropy, 0.0, "entropy");
  check_heads(stats.entropy_normalised, 0.0, "entropy_normalised");
  check_heads(stats.self_mass, 1.0 / 6.0, "self_mass");  // only query 0
  check_heads(stats.next_mass, 0.0, "next_mass");
  check_heads(stats.sink_mass, 2.0 / 6.0, "sink_mass");  // queries 0 and 1 look at key 0
  check_heads(stats.distance, 5.0 / 6.0, "distance");    // 1 for queries 1..5, 0 for query 0

  SECTION("with the queries a position later than the keys (Tq = Tk - 1): distance exactly 1") {
    // Query i sits at key position i + 1, so A[i, i] is the previous token for every query.
    const auto shifted = torch::eye(length - 1).view({1, 1, length - 1, length - 1});
    const auto padded =
        torch::cat({shifted, torch::zeros({1, 1, length - 1, 1})}, -1);  // [1,1,5,6]
    const auto counts = record::allowed_key_counts({}, 1, length - 1, length);
    const auto offset = record::map_statistics(padded, counts);
    check_heads(offset.previous_mass, 1.0, "previous_mass");
    check_heads(offset.distance, 1.0, "distance");
    check_heads(offset.k90, 1.0, "k90");
    check_heads(offset.self_mass, 0.0, "self_mass");
  }
}

TEST_CASE("queries without an allowed key are left out of every mean", "[record]") {
  const std::int64_t length = 4;
  // Key 0 only for queries 1..3; query 0 sees nothing (its row is all zeros, as the variants
  // leave it).
  auto mask = torch::zeros({1, length, length}, torch::kBool);
  mask.index_put_({0, torch::indexing::Slice(1), 0}, true);
  mask.index_put_({0, torch::indexing::Slice(1), 1}, true);
  const auto keys = record::allowed_key_counts(mask, 1, length, length);
  CHECK(value_at(keys, 0) == 0);
  CHECK(value_at(keys, 1) == 2);
  const auto probs = (mask.to(torch::kFloat) * 0.5).unsqueeze(0);  // [1,1,T,T]
  const auto stats = record::map_statistics(probs, keys);
  check_heads(stats.entropy, std::log(2.0), "entropy");
  check_heads(stats.entropy_normalised, 1.0, "entropy_normalised");
  check_heads(stats.sink_mass, 0.5, "sink_mass");
  check_heads(stats.k90, 2.0, "k90");
  CHECK(std::isnan(value_at(stats.entropy_per_query, 0)));
  CHECK(value_at(stats.entropy_per_query, 1) == Approx(std::log(2.0)));
}

TEST_CASE("output norms are norms of the head's weighted sum, through W_O", "[record]") {
  // H = 2 heads of D = 2 in C = 4; W_O maps head 0 to dims 0-1 unchanged, head 1 to dims 2-3
  // scaled by 2.
  const auto weight = torch::diag(torch::tensor({1.0f, 1.0f, 2.0f, 2.0f}));  // [C, H*D]
  auto values = torch::zeros({1, 2, 3, 2});                                    // [B,H,Tk,D]
  for (std::int64_t key = 0; key < 3; ++key) values.index_put_({0, 0, key, 0}, key + 1.0);
  values.index_put_({0, 1, 0, 0}, 1.0);
  values.index_put_({0, 1, 1, 0}, -1.0);
  values.index_put_({0, 1, 2, 0}, 1.0);
  auto probs = torch::zeros({1, 2, 3, 3});  // [B,H,Tq,Tk]
  probs.index_put_({0, 0, torch::indexing::Slice(), 2}, 1.0);  // head 0: every query on key 2
  probs.index_put_({0, 1}, 1.0 / 3.0);                         // head 1: uniform
  const auto keys = record::allowed_key_counts({}, 2, 3, 3);
  const auto norms = record::output_norms(probs, values, weight, keys);
  REQUIRE(norms.value_norms.sizes() == std::vector<std::int64_t>({1, 2, 3}));
  CHECK(value_at(norms.value_norms, 0) == Approx(1.0));
  CHECK(value_at(norms.value_norms, 2) == Approx(3.0));
  CHECK(value_at(norms.value_norms, 3) == Approx(2.0));  // head 1: |±1| * 2
  CHECK(value_at(norms.per_head, 0) == Approx(3.0));
  // Head 1: (1 - 1 + 1) / 3 * 2 = 2/3; the values cancel, although each has norm 2.
  CHECK(value_at(norms.per_head, 1) == Approx(2.0 / 3.0));
  CHECK(value_at(norms.per_query, 3) == Approx(2.0 / 3.0));
}

TEST_CASE("a diverged map with NaN rows gives NaN statistics, not a crash", "[record]") {
  const std::int64_t length = 40;  // rows longer than std::sort's insertion-sort cut-off
  auto probs = torch::full({1, 2, length, length}, 1.0 / length);  // [B,H,T,T]
  probs.select(1, 0).fill_(std::numeric_limits<float>::quiet_NaN());  // head 0 diverged
  const auto keys = record::allowed_key_counts({}, 2, length, length);
  const auto stats = record::map_statistics(probs, keys);
  CHECK(std::isnan(value_at(stats.k90, 0)));
  CHECK(std::isnan(value_at(stats.distance, 0)));
  CHECK(value_at(stats.k90, 1) == Approx(36.0));  // head 1 unaffected: 36 of 1/40 reach 0.9
}
