// The same checks over every registered combination of score, position and pattern, causal and
// bidirectional: outputs and probabilities against a plain reference written here from the
// formulas, rows summing to one, and zero mass where the pattern or causality forbids.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "variants/attention_variant.h"

using namespace attnlab::variants;

namespace {

VariantOptions options_for(const std::string& score, const std::string& position,
                           const std::string& pattern) {
  VariantOptions options;
  for (const auto& spec : all_option_specs()) options.set(spec.name, spec.default_value);
  options.set("score", score);
  options.set("position", position);
  options.set("pattern", pattern);
  return options;
}

// Scores from the formula: s_ij = scale * q_i·k_j.
torch::Tensor reference_scores(const std::string& score, const torch::Tensor& q,
                               const torch::Tensor& k) {
  const double head_dim = static_cast<double>(q.size(-1));
  if (score == "scaled") return torch::einsum("bhid,bhjd->bhij", {q, k}) / std::sqrt(head_dim);
  if (score == "dot") return torch::einsum("bhid,bhjd->bhij", {q, k});
  FAIL("no reference for score '" << score << "': add one to this test");
  return {};
}

// allowed[i][j] from the pattern's definition, with query i at position i + (Tk - Tq).
bool reference_allowed(const std::string& pattern, std::int64_t i, std::int64_t j,
                       std::int64_t query_length, std::int64_t key_length, bool causal) {
  const std::int64_t query_position = i + key_length - query_length;
  if (causal && j > query_position) return false;
  if (pattern == "full") return true;
  FAIL("no reference for pattern '" << pattern << "': add one to this test");
  return false;
}

struct Reference {
  torch::Tensor out, probs;
};

Reference reference_attention(const std::string& score, const std::string& pattern,
                              const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v, bool causal) {
  auto scores = reference_scores(score, q, k);
  const auto query_length = q.size(2), key_length = k.size(2);
  auto allowed = torch::zeros({query_length, key_length}, torch::kBool);
  for (std::int64_t i = 0; i < query_length; ++i) {
    for (std::int64_t j = 0; j < key_length; ++j) {
      allowed[i][j] = reference_allowed(pattern, i, j, query_length, key_length, causal);
    }
  }
  scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<double>::infinity());
  auto probs = torch::softmax(scores, -1);
  return {torch::matmul(probs, v), probs};
}

struct Combination {
  std::string score, position, pattern;
  bool causal;
  std::string name() const {
    return score + "+" + position + "+" + pattern + (causal ? " causal" : " bidirectional");
  }
};

std::vector<Combination> valid_combinations() {
  std::vector<Combination> all;
  for (const auto* score : score_registry().entries()) {
    for (const auto* position : position_registry().entries()) {
      for (const auto* pattern : pattern_registry().entries()) {
        try {
          validate(options_for(score->name, position->name, pattern->name));
        } catch (const std::invalid_argument&) {
          continue;  // rejected combinations are tested separately
        }
        for (bool causal : {true, false}) {
          all.push_back({score->name, position->name, pattern->name, causal});
        }
      }
    }
  }
  return all;
}

}  // namespace

TEST_CASE("every registered variant matches the reference formula", "[variants]") {
  torch::manual_seed(7);
  const std::int64_t batch = 2, heads = 3, length = 9, head_dim = 8;
  for (const auto& combination : valid_combinations()) {
    if (combination.position != "none") continue;  // positions have their own tests
    DYNAMIC_SECTION(combination.name()) {
      AttentionSite site{/*layer=*/0, heads, head_dim, combination.causal, /*cross=*/false};
      AttentionVariant variant(
          options_for(combination.score, combination.position, combination.pattern), site);
      variant->to(torch::kDouble);
      auto q = torch::randn({batch, heads, length, head_dim}, torch::kDouble);
      auto k = torch::randn({batch, heads, length, head_dim}, torch::kDouble);
      auto v = torch::randn({batch, heads, length, head_dim}, torch::kDouble);
      const auto expected = reference_attention(combination.score, combination.pattern, q, k, v,
                                                combination.causal);
      const auto got = variant->forward(q, k, v, /*need_probs=*/true);
      CHECK(torch::allclose(got.probs, expected.probs, /*rtol=*/1e-5, /*atol=*/1e-9));
      CHECK(torch::allclose(got.out, expected.out, /*rtol=*/1e-5, /*atol=*/1e-9));
      CHECK(torch::allclose(got.probs.sum(-1), torch::ones({batch, heads, length}, torch::kDouble)));
      if (combination.causal) {
        auto later = torch::triu(torch::ones({length, length}, torch::kBool), /*diagonal=*/1);
        CHECK(got.probs.masked_select(later.expand_as(got.probs)).abs().max().item<double>() == 0.0);
      }
      // Without probabilities the output is unchanged (the fast path agrees with the plain one).
      const auto fast = variant->forward(q, k, v, /*need_probs=*/false);
      CHECK_FALSE(fast.probs.defined());
      CHECK(torch::allclose(fast.out, expected.out, /*rtol=*/1e-5, /*atol=*/1e-9));
    }
  }
}

TEST_CASE("unknown variant names fail and list the registered ones", "[variants]") {
  auto options = options_for("scaled", "none", "full");
  options.set("score", std::string("softmax-of-doom"));
  try {
    validate(options);
    FAIL("validate accepted an unknown score");
  } catch (const std::invalid_argument& error) {
    const std::string message = error.what();
    CHECK_THAT(message, Catch::Contains("variant.score"));
    CHECK_THAT(message, Catch::Contains("softmax-of-doom"));
    CHECK_THAT(message, Catch::Contains("scaled"));
  }
}

TEST_CASE("cross-attention lines queries up with keys of another length", "[variants]") {
  torch::manual_seed(3);
  AttentionSite site{0, 2, 4, /*causal=*/false, /*cross=*/true};
  AttentionVariant variant(options_for("scaled", "none", "full"), site);
  auto q = torch::randn({1, 2, 5, 4}), k = torch::randn({1, 2, 7, 4}), v = torch::randn({1, 2, 7, 4});
  const auto got = variant->forward(q, k, v, true);
  CHECK(got.probs.sizes() == std::vector<std::int64_t>({1, 2, 5, 7}));
  CHECK(got.out.sizes() == std::vector<std::int64_t>({1, 2, 5, 4}));
  CHECK(torch::allclose(got.probs.sum(-1), torch::ones({1, 2, 5})));
}
