// Head scores and labels on synthetic maps with known answers (docs/head-metrics.md): uniform
// maps (entropy ln T; causal: mean ln(i+1)), one-hot offset maps (previous-token score (T-1)/T, 1
// without the current token; distance δ), sink maps (α_0 = 1), duplicate and induction maps on
// repeated tokens, the label each kind gets, and maps of other kinds read as |A| row-normalised.
//
// T = sequence length (Tq = Tk = T here).
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <stdexcept>

#include "analysis/heads/analysed_map.h"
#include "analysis/heads/head_analysis.h"
#include "analysis/heads/context_variation.h"
#include "analysis/heads/head_classes.h"
#include "analysis/heads/head_similarity.h"
#include "analysis/heads/head_thresholds.h"
#include "analysis/heads/map_metrics.h"

using namespace attnlab::heads;

namespace {

constexpr std::int64_t kLength = 16;

// A [T,T] map and its allowed key counts; a row the function leaves empty is an invalid query
// (n_i = 0), as a pattern without keys for that query would record it.
struct SyntheticMap {
  std::vector<float> map = std::vector<float>(kLength * kLength, 0.0f);
  std::vector<std::int32_t> allowed = std::vector<std::int32_t>(kLength, 0);
};

SyntheticMap make_map(bool causal, const std::function<void(std::int64_t, float*)>& fill_row) {
  SyntheticMap result;
  for (std::int64_t i = 0; i < kLength; ++i) {
    float* row = result.map.data() + i * kLength;
    fill_row(i, row);
    double total = 0;
    for (std::int64_t j = 0; j < kLength; ++j) total += row[j];
    if (total > 0) result.allowed[i] = static_cast<std::int32_t>(causal ? i + 1 : kLength);
  }
  return result;
}

MapMetrics metrics_of(const SyntheticMap& map, bool causal,
                      const std::vector<std::int64_t>* tokens = nullptr) {
  HeadAccumulator accumulator(kLength, kLength, causal);
  accumulator.add(map.map.data(), map.allowed.data(), tokens ? tokens->data() : nullptr);
  return accumulator.finish();
}

double offset(const MapMetrics& metrics, std::int64_t delta) {
  return metrics.offsets[static_cast<std::size_t>(delta + kMaxOffset)];
}

Label label_of(const MapMetrics& metrics) { return classify(scores_from_maps(metrics)).label; }

// Eight distinct tokens, then the same eight again (a repeated random segment).
std::vector<std::int64_t> repeated_tokens() {
  std::vector<std::int64_t> tokens;
  for (std::int64_t i = 0; i < kLength; ++i) tokens.push_back(11 + (i % (kLength / 2)) * 7);
  return tokens;
}

}  // namespace

TEST_CASE("uniform maps: entropy ln T, causal mean ln(i+1), broad", "[analysis][heads]") {
  const auto bidirectional = metrics_of(make_map(false,
                                                 [](std::int64_t, float* row) {
                                                   for (std::int64_t j = 0; j < kLength; ++j)
                                                     row[j] = 1.0f / kLength;
                                                 }),
                                        false);
  CHECK(bidirectional.entropy == Approx(std::log(kLength)).epsilon(1e-6));
  CHECK(bidirectional.entropy_normalised == Approx(1.0).epsilon(1e-6));
  CHECK(bidirectional.max_weight == Approx(1.0 / kLength));
  CHECK(bidirectional.sink_alpha_0 == Approx(1.0 / kLength));
  CHECK(label_of(bidirectional) == Label::Broad);

  const auto causal = metrics_of(make_map(true,
                                          [](std::int64_t i, float* row) {
                                            for (std::int64_t j = 0; j <= i; ++j) {
                                              row[j] = 1.0f / static_cast<float>(i + 1);
                                            }
                                          }),
                                 true);
  double mean_log = 0, harmonic = 0;
  for (std::int64_t i = 0; i < kLength; ++i) {
    mean_log += std::log(static_cast<double>(i + 1)) / kLength;
    harmonic += 1.0 / static_cast<double>(i + 1);
  }
  CHECK(causal.entropy == Approx(mean_log).epsilon(1e-6));
  CHECK(causal.entropy_normalised == Approx(1.0).epsilon(1e-6));
  // Gu et al.: α_0 = H_T / T for a causal uniform map: no sink at this length.
  CHECK(causal.sink_alpha_0 == Approx(harmonic / kLength).epsilon(1e-6));
  CHECK(causal.sink_alpha_0 < kSinkThreshold);
  CHECK(causal.next_score == 0.0);
  CHECK(label_of(causal) == Label::Broad);
}

TEST_CASE("a one-hot previous-token map: (T-1)/T, or 1 without the current token",
          "[analysis][heads]") {
  // Query 0 has only itself to attend to.
  const auto metrics = metrics_of(
      make_map(true, [](std::int64_t i, float* row) { row[i == 0 ? 0 : i - 1] = 1.0f; }), true);
  CHECK(metrics.previous_score == Approx(static_cast<double>(kLength - 1) / kLength));
  CHECK(metrics.previous_score_excl == Approx(1.0));
  CHECK(offset(metrics, 1) == Approx(1.0));  // P(1) over the queries that have a previous key
  CHECK(offset(metrics, 0) == Approx(1.0 / kLength));
  CHECK(metrics.self_score == Approx(1.0 / kLength));
  CHECK(metrics.next_score == 0.0);
  CHECK(metrics.entropy == Approx(0.0).margin(1e-12));
  CHECK(metrics.max_weight == Approx(1.0));
  CHECK(metrics.positional_fraction == Approx(static_cast<double>(kLength - 1) / kLength));
  CHECK(metrics.positional_offset == 1.0);
  // α_{T-2} = 1/2 is an artefact of averaging over two queries: not reported, not a sink.
  CHECK(metrics.sink_alpha_max < kSinkThreshold);
  CHECK(std::isnan(metrics.prefix_matching));  // no tokens given
  const auto result = classify(scores_from_maps(metrics));
  CHECK(result.label == Label::Previous);
  CHECK(result.score == Approx(1.0));
}

TEST_CASE("δ-offset maps have distance δ and P(δ) = 1", "[analysis][heads]") {
  for (std::int64_t delta = -3; delta <= 3; ++delta) {
    DYNAMIC_SECTION("offset " << delta) {
      // Queries whose key i - δ does not exist are left without keys (invalid).
      const auto metrics = metrics_of(make_map(false,
                                               [delta](std::int64_t i, float* row) {
                                                 const auto key = i - delta;
                                                 if (key >= 0 && key < kLength) row[key] = 1.0f;
                                               }),
                                      false);
      CHECK(metrics.distance == Approx(static_cast<double>(std::llabs(delta))));
      CHECK(offset(metrics, delta) == Approx(1.0));
      CHECK(metrics.positional_fraction == Approx(1.0));
      CHECK(metrics.positional_offset == static_cast<double>(delta));
      const auto label = label_of(metrics);
      if (delta == 1) CHECK(label == Label::Previous);
      if (delta == 0) CHECK(label == Label::Self);
      if (delta == -1) CHECK(label == Label::Next);
      if (std::llabs(delta) == 2) CHECK(label == Label::Local);
      if (std::llabs(delta) == 3) CHECK(label == Label::Mixed);
    }
  }
}

TEST_CASE("a sink map: α_0 = 1, sink label", "[analysis][heads]") {
  for (const bool causal : {true, false}) {
    DYNAMIC_SECTION((causal ? "causal" : "bidirectional")) {
      const auto metrics =
          metrics_of(make_map(causal, [](std::int64_t, float* row) { row[0] = 1.0f; }), causal);
      CHECK(metrics.sink_alpha_0 == Approx(1.0));
      CHECK(metrics.sink_score == Approx(1.0));
      CHECK(metrics.sink_alpha_max == Approx(1.0));
      CHECK(metrics.sink_alpha_key == 0.0);
      const auto result = classify(scores_from_maps(metrics));
      CHECK(result.label == Label::Sink);
      CHECK(result.score == Approx(1.0));
    }
  }
}

TEST_CASE("induction and duplicate maps on a repeated segment", "[analysis][heads]") {
  const auto tokens = repeated_tokens();
  const std::int64_t half = kLength / 2;
  // First repeat: attend to the current token (nothing earlier to copy from).
  const auto induction = metrics_of(
      make_map(true,
               [half](std::int64_t i, float* row) { row[i < half ? i : i - half + 1] = 1.0f; }),
      true, &tokens);
  CHECK(induction.prefix_matching == Approx(1.0));
  CHECK(induction.induction_score == Approx(0.5));       // half the rows hit, TransformerLens mul
  CHECK(induction.induction_score_excl == Approx(1.0));  // the self-attending rows drop out
  CHECK(induction.duplicate_matching == Approx(0.0));
  CHECK(label_of(induction) == Label::Induction);

  const auto duplicate = metrics_of(
      make_map(true, [half](std::int64_t i, float* row) { row[i < half ? i : i - half] = 1.0f; }),
      true, &tokens);
  CHECK(duplicate.duplicate_matching == Approx(1.0));
  CHECK(duplicate.duplicate_score == Approx(0.5));
  // Without BOS and the current token: query `half` (its copy is key 0) and the first repeat's
  // self-attention drop out of both sums.
  CHECK(duplicate.duplicate_score_excl == Approx(1.0));
  CHECK(duplicate.prefix_matching == Approx(0.0));
  CHECK(label_of(duplicate) == Label::Duplicate);
}

TEST_CASE("bidirectional maps: only earlier copies count as duplicates", "[analysis][heads]") {
  const auto tokens = repeated_tokens();
  const std::int64_t half = kLength / 2;
  // The first repeat attends to its later copy, the second to its earlier one.
  const auto metrics = metrics_of(
      make_map(false,
               [half](std::int64_t i, float* row) { row[i < half ? i + half : i - half] = 1.0f; }),
      false, &tokens);
  CHECK(metrics.duplicate_matching == Approx(1.0));  // only the second repeat has earlier copies
  CHECK(metrics.duplicate_score == Approx(0.5));
  CHECK(metrics.sink_alpha_0 == Approx(1.0 / kLength));
}

TEST_CASE("a head with no dominant pattern is mixed, scored by its closest class",
          "[analysis][heads]") {
  const auto metrics = metrics_of(make_map(false,
                                           [](std::int64_t i, float* row) {
                                             if (i < 4) return;
                                             row[i - 1] = 0.45f;
                                             row[i - 4] = 0.55f;
                                           }),
                                  false);
  const auto result = classify(scores_from_maps(metrics));
  CHECK(result.label == Label::Mixed);
  CHECK(result.score == Approx(0.45 / kPositionalThreshold).epsilon(1e-6));
}

TEST_CASE("unknown scores never pass, every label has a name", "[analysis][heads]") {
  CHECK(classify(HeadScores{}).label == Label::Mixed);
  CHECK(std::isnan(classify(HeadScores{}).score));
  for (const auto label : labels()) CHECK(std::string(label_name(label)) != "?");
}

TEST_CASE("snapshot selection: all, last, an index, errors", "[analysis][heads]") {
  CHECK(select_snapshots("all", 3) == std::vector<std::int64_t>{0, 1, 2});
  CHECK(select_snapshots("last", 3) == std::vector<std::int64_t>{2});
  CHECK(select_snapshots("1", 3) == std::vector<std::int64_t>{1});
  CHECK(select_snapshots("-1", 3) == std::vector<std::int64_t>{2});
  CHECK_THROWS_AS(select_snapshots("3", 3), std::invalid_argument);
  CHECK_THROWS_AS(select_snapshots("-4", 3), std::invalid_argument);
  CHECK_THROWS_AS(select_snapshots("first", 3), std::invalid_argument);
  CHECK_THROWS_AS(select_snapshots("1x", 3), std::invalid_argument);
  CHECK_THROWS_AS(select_snapshots("", 3), std::invalid_argument);
  CHECK_THROWS_AS(select_snapshots("all", 0), std::invalid_argument);
}

TEST_CASE("Jensen-Shannon: 0 for identical rows, ln 2 for disjoint ones, symmetric",
          "[analysis][heads][similarity]") {
  const std::vector<float> first = {0.7f, 0.2f, 0.1f, 0.0f}, second = {0.0f, 0.0f, 0.5f, 0.5f};
  CHECK(js_divergence(first.data(), first.data(), 4) == Approx(0.0).margin(1e-12));
  CHECK(js_divergence(first.data(), second.data(), 4) ==
        Approx(js_divergence(second.data(), first.data(), 4)));
  const std::vector<float> left = {1.0f, 0.0f}, right = {0.0f, 1.0f};
  // Smoothing keeps disjoint one-hot rows a hair below ln 2.
  CHECK(js_divergence(left.data(), right.data(), 2) == Approx(std::log(2.0)).epsilon(0.01));
  CHECK(js_divergence(left.data(), right.data(), 2) < std::log(2.0));
  // Clark et al.'s smoothing made explicit: p' = 0.001/T + 0.999 p.
  const std::vector<float> p = {0.9f, 0.1f}, q = {0.7f, 0.3f};
  const auto smooth = [](double value) { return kJsSmoothing / 2 + (1 - kJsSmoothing) * value; };
  double expected = 0;
  for (int j = 0; j < 2; ++j) {
    const double a = smooth(p[j]), b = smooth(q[j]), m = (a + b) / 2;
    expected += 0.5 * a * std::log(a / m) + 0.5 * b * std::log(b / m);
  }
  CHECK(js_divergence(p.data(), q.data(), 2) == Approx(expected).epsilon(1e-6));
}

TEST_CASE("average-linkage clustering merges the closest heads and cuts redundant groups",
          "[analysis][heads][similarity]") {
  // Heads 0 and 1 identical, 2 close to both, 3 far from everyone, 4 not comparable.
  HeadSimilarity similarity;
  const double nan = std::nan("");
  for (std::int64_t head = 0; head < 5; ++head) similarity.heads.push_back({0, head});
  similarity.distance = {0.0,  0.0,  0.06, 0.6,  nan,   //
                         0.0,  0.0,  0.08, 0.5,  nan,   //
                         0.06, 0.08, 0.0,  0.55, nan,   //
                         0.6,  0.5,  0.55, 0.0,  nan,   //
                         nan,  nan,  nan,  nan,  0.0};
  cluster_heads(similarity, 0.1);
  REQUIRE(similarity.merges.size() == 4);
  CHECK(similarity.merges[0].first == 0);
  CHECK(similarity.merges[0].second == 1);
  CHECK(similarity.merges[0].distance == 0.0);
  CHECK(similarity.merges[1].first == 2);  // head 2 joins {0,1} (cluster 5) at the mean 0.07
  CHECK(similarity.merges[1].second == 5);
  CHECK(similarity.merges[1].distance == Approx(0.07));
  CHECK(similarity.merges[1].size == 3);
  CHECK(similarity.merges[2].distance == Approx((0.6 + 0.5 + 0.55) / 3));  // then head 3
  CHECK(similarity.merges[3].distance == Approx(std::log(2.0)));  // NaN counts as ln 2
  CHECK(similarity.group == std::vector<std::int64_t>{0, 0, 0, -1, -1});
  // Leaf order keeps each cluster contiguous.
  CHECK(similarity.order == std::vector<std::int64_t>{4, 3, 2, 0, 1});

  cluster_heads(similarity, 0.05);  // a tighter cut leaves only the identical pair
  CHECK(similarity.group == std::vector<std::int64_t>{0, 0, -1, -1, -1});
}

TEST_CASE("contextual variation: 0 when the token fixes the behaviour, the pooled spread otherwise",
          "[analysis][heads][context]") {
  const std::vector<double> offsets_a = {0, 0, 0, 0, 1, 0, 0, 0, 0};  // self
  const std::vector<double> offsets_b = {0, 0, 0, 0, 0, 1, 0, 0, 0};  // previous
  ContextAccumulator fixed;
  for (int repeat = 0; repeat < 3; ++repeat) {
    fixed.add(/*token=*/5, 1.0, 0.5, offsets_a);
    fixed.add(/*token=*/9, 2.0, 0.25, offsets_b);
  }
  const auto by_token = fixed.finish();
  CHECK(by_token.repeated_types == 2);
  CHECK(by_token.entropy_spread == Approx(0.0).margin(1e-12));
  CHECK(by_token.max_weight_spread == Approx(0.0).margin(1e-12));
  CHECK(by_token.offset_spread == Approx(0.0).margin(1e-12));
  // Over all rows the behaviour does vary: entropies 1 and 2, three each -> std sqrt(6*0.25/5).
  CHECK(by_token.entropy_overall == Approx(std::sqrt(1.5 / 5)));

  // Token 5 alternates between the two behaviours: within-type spread of entropy
  // sqrt(((1-1.5)^2 * 2) / 1) for two occurrences, offset vectors sqrt(2 * 0.5 / 1).
  ContextAccumulator varying;
  varying.add(5, 1.0, 0.5, offsets_a);
  varying.add(5, 2.0, 0.5, offsets_b);
  varying.add(7, 3.0, 0.5, offsets_a);  // seen once: not a repeated type
  const auto context = varying.finish();
  CHECK(context.repeated_types == 1);
  CHECK(context.entropy_spread == Approx(std::sqrt(0.5)));
  CHECK(context.max_weight_spread == Approx(0.0).margin(1e-12));
  CHECK(context.offset_spread == Approx(1.0));
}

TEST_CASE("map metrics carry the contextual variation of the probe's repeated tokens",
          "[analysis][heads][context]") {
  // Each token's two occurrences attend the same way (one-hot on the first copy): no variation.
  const auto tokens = repeated_tokens();
  const auto map = make_map(/*causal=*/true, [](std::int64_t i, float* row) {
    row[i % (kLength / 2)] = 1.0f;
  });
  const auto with_tokens = metrics_of(map, /*causal=*/true, &tokens);
  CHECK(with_tokens.context.repeated_types == kLength / 2);
  CHECK(with_tokens.context.entropy_spread == Approx(0.0).margin(1e-9));
  CHECK(with_tokens.context.max_weight_spread == Approx(0.0).margin(1e-9));
  // The offset profile does change: the first occurrence attends to itself (δ 0), the second
  // 8 back, outside |δ| <= 4: vectors e_0 and 0, spread sqrt(2 * 0.5 / 1) per type.
  CHECK(with_tokens.context.offset_spread == Approx(std::sqrt(0.5)));
  const auto without_tokens = metrics_of(map, /*causal=*/true);
  CHECK(std::isnan(without_tokens.context.entropy_spread));
}

TEST_CASE("maps that are not distributions are read as |A| row-normalised", "[analysis][heads]") {
  // Row 0 of two keys: 0.5, -1.5 (signed); row 1 has no mass.
  const std::vector<float> map = {0.5f, -1.5f, 0.0f, 0.0f};
  const std::vector<std::int32_t> allowed = {2, 2};
  const auto as_stored = analysed_map(map, "distribution", allowed.data(), 2, 2);
  CHECK(as_stored.weights == map);
  CHECK(as_stored.allowed == allowed);
  for (const char* kind : {"partial", "unnormalised", "signed"}) {
    INFO(kind);
    const auto read = analysed_map(map, kind, allowed.data(), 2, 2);
    CHECK(read.weights == std::vector<float>({0.25f, 0.75f, 0.0f, 0.0f}));
    CHECK(read.allowed == std::vector<std::int32_t>({2, 0}));  // no mass: an invalid query
    CHECK_THAT(analysed_map_description(kind), Catch::Contains("|A_ij| / sum_l |A_il|"));
  }

  // A signed previous-token head (-A) scores as A does; read as stored it would score -1.
  const auto previous = make_map(true, [](std::int64_t i, float* row) {
    row[std::max<std::int64_t>(i - 1, 0)] = 1.0f;
  });
  SyntheticMap negated = previous;
  for (auto& weight : negated.map) weight = -weight;
  const auto read = analysed_map(negated.map, "signed", previous.allowed.data(), kLength, kLength);
  HeadAccumulator accumulator(kLength, kLength, /*causal=*/true);
  accumulator.add(read.weights.data(), read.allowed.data(), nullptr);
  const auto signed_metrics = accumulator.finish();
  CHECK(offset(signed_metrics, 1) == Approx(offset(metrics_of(previous, true), 1)));
  CHECK(label_of(signed_metrics) == Label::Previous);
  CHECK(offset(metrics_of(negated, true), 1) < 0);
}
