// Per-head statistics on maps whose values are known by hand: uniform (bidirectional and causal),
// one-hot previous-token (aligned and with a shorter query block), a query without allowed keys,
// output norms of hand-made values and output weights, and maps of every other kind: read as
// |A| row-normalised, with their row masses kept apart.
//
// B = samples, H = heads, Tq = queries, Tk = keys, D = head dim, C = d_model.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "experiments/record/head_statistics.h"

using namespace attnlab;
using Approx = Catch::Detail::Approx;

namespace {

constexpr auto kDistribution = variants::MapKind::Distribution;

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
  const auto stats = record::map_statistics(probs, keys, kDistribution);
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
  const auto stats = record::map_statistics(probs, keys, kDistribution);

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
  const auto stats = record::map_statistics(probs, keys, kDistribution);
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
    const auto offset = record::map_statistics(padded, counts, kDistribution);
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
  const auto stats = record::map_statistics(probs, keys, kDistribution);
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
  const auto stats = record::map_statistics(probs, keys, kDistribution);
  CHECK(std::isnan(value_at(stats.k90, 0)));
  CHECK(std::isnan(value_at(stats.distance, 0)));
  CHECK(value_at(stats.k90, 1) == Approx(36.0));  // head 1 unaffected: 36 of 1/40 reach 0.9
}

namespace {

// Every per-head and per-query statistic of the analysed rows, by name.
std::vector<std::pair<const char*, torch::Tensor>> analysed(const record::MapStatistics& stats) {
  return {{"entropy", stats.entropy},
          {"entropy_normalised", stats.entropy_normalised},
          {"confidence", stats.confidence},
          {"distance", stats.distance},
          {"sink_mass", stats.sink_mass},
          {"self_mass", stats.self_mass},
          {"previous_mass", stats.previous_mass},
          {"next_mass", stats.next_mass},
          {"k90", stats.k90},
          {"entropy_per_query", stats.entropy_per_query},
          {"confidence_per_query", stats.confidence_per_query},
          {"distance_per_query", stats.distance_per_query},
          {"k90_per_query", stats.k90_per_query}};
}

}  // namespace

TEST_CASE("a signed map's statistics are those of |A| row-normalised, not of A", "[record]") {
  // Differential-attention-like rows: a causal softmax minus 0.8 of another, so that entries
  // have both signs and rows sum to 0.2.
  const std::int64_t length = 7;
  const auto mask = causal_mask(length);
  const auto keys = record::allowed_key_counts(mask, 2, length, length);  // [H,T]
  torch::manual_seed(3);
  const auto softmax = [&] {
    return torch::randn({2, 2, length, length}).masked_fill(mask.logical_not(), -INFINITY)
        .softmax(-1);  // [B,H,T,T]
  };
  const auto map = softmax() - 0.8 * softmax();
  REQUIRE(map.lt(0).any().item<bool>());
  const auto normalised = map.abs() / map.abs().sum(-1, /*keepdim=*/true);  // [B,H,T,T]

  const auto stats = record::map_statistics(map, keys, variants::MapKind::Signed);
  const auto reference = record::map_statistics(normalised, keys, kDistribution);
  const auto as_raw = record::map_statistics(map, keys, kDistribution);
  const auto expected = analysed(reference);
  const auto actual = analysed(stats);
  for (std::size_t index = 0; index < actual.size(); ++index) {
    INFO(actual[index].first);
    CHECK(torch::allclose(actual[index].second, expected[index].second, 1e-5, 1e-6,
                          /*equal_nan=*/true));
  }
  // Read as if it were a distribution the same map tells another story.
  CHECK_FALSE(torch::allclose(stats.entropy, as_raw.entropy, 1e-3, 1e-3));
  CHECK_FALSE(torch::allclose(stats.k90, as_raw.k90, 1e-3, 1e-3));
  // The masses are of A as stored: sum_j A_ij = 1 - 0.8 for every query.
  check_heads(stats.row_mass, 0.2, "row_mass");
  const auto abs_mass = map.abs().sum(-1).mean(/*dim=*/std::vector<std::int64_t>{0, 2});  // [H]
  CHECK(torch::allclose(stats.row_abs_mass, abs_mass.to(torch::kFloat), 1e-5));
  CHECK(value_at(stats.row_abs_mass, 0) > 0.2);
}

TEST_CASE("a partial map keeps its row mass below 1; a distribution's is 1", "[record]") {
  // Softmax with a sink: each row gave part of its mass to a logit that takes no key.
  const std::int64_t length = 5;
  const auto keys = record::allowed_key_counts({}, 1, length, length);
  torch::manual_seed(5);
  const auto scores = torch::randn({2, 1, length, length});                   // [B,H,T,T]
  const auto with_sink = torch::cat({scores, torch::zeros({2, 1, length, 1})}, -1).softmax(-1);
  const auto map = with_sink.narrow(-1, 0, length);                           // [B,H,T,T]
  const auto stats = record::map_statistics(map, keys, variants::MapKind::Partial);
  const double expected = map.sum(-1).mean().item<double>();
  REQUIRE(expected < 0.99);
  check_heads(stats.row_mass, expected, "row_mass");
  check_heads(stats.row_abs_mass, expected, "row_abs_mass");
  // Its focus is read on the renormalised rows: what softmax without the sink would give.
  const auto without_sink = record::map_statistics(scores.softmax(-1), keys, kDistribution);
  CHECK(value_at(stats.entropy, 0) == Approx(value_at(without_sink.entropy, 0)).epsilon(1e-5));
  check_heads(without_sink.row_mass, 1.0, "row_mass of a distribution");
}

TEST_CASE("an unnormalised row of zero mass is an invalid query, and its mass still counts",
          "[record]") {
  // Sigmoid-like rows of 0.25 each, but query 0 of every sample is all zero (nothing to read).
  const std::int64_t length = 4;
  auto map = torch::full({2, 1, length, length}, 0.25);  // [B,H,T,T]
  map.select(2, 0).zero_();
  const auto keys = record::allowed_key_counts({}, 1, length, length);
  const auto stats = record::map_statistics(map, keys, variants::MapKind::Unnormalised);
  CHECK(std::isnan(value_at(stats.entropy_per_query, 0)));
  CHECK(value_at(stats.entropy_per_query, 1) == Approx(std::log(4.0)));
  check_heads(stats.entropy, std::log(4.0), "entropy");  // over queries 1..3
  check_heads(stats.confidence, 0.25, "confidence");
  check_heads(stats.row_mass, 0.75, "row_mass");  // (0 + 1 + 1 + 1) / 4
}
