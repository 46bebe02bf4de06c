// Head scores and labels on synthetic maps with known answers (definitions: METRICS.md): uniform
// maps (entropy ln T; causal: mean ln(i+1)), one-hot offset maps (previous-token score (T-1)/T, 1
// without the current token; distance δ), sink maps (α_0 = 1), duplicate and induction maps on
// repeated tokens, and the label each kind gets.
//
// T = sequence length (Tq = Tk = T here).
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <stdexcept>

#include "analysis/heads/head_analysis.h"
#include "analysis/heads/head_classes.h"
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
