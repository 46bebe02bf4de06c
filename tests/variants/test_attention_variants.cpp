// The same checks over every registered part and every registered combination of them. Each score,
// position scheme and pattern against its own double-precision reference (parts.h; written in the
// part's file), gradients too; then every combination of score, position and pattern, causal and
// bidirectional, self- and cross-attention: outputs and probabilities against the composition of
// the parts' references, the chunked path against the plain one, rows summing to one, zero mass
// where the pattern or causality forbids, and finite-difference gradients through both paths.
// Then part-specific properties (RoPE, ALiBi, bigbird, additive) and bad options.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <limits>
#include <set>

#include <torch/csrc/autograd/autograd.h>

#include "tests/variants/variant_test_support.h"
#include "variants/attention_variant.h"

using namespace attnlab::variants;
using attnlab::variants::testing::small_options;
using attnlab::variants::testing::valid_combinations;

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

struct Shape {
  std::int64_t query_length, key_length;
  bool cross;
  std::string name;
};
const std::vector<Shape> kShapes = {{16, 16, false, "self"}, {10, 16, true, "cross"}};

// Both undefined (a parameter the scores do not use), or equal within the tolerance.
bool same_gradient(const torch::Tensor& got, const torch::Tensor& expected) {
  if (!got.defined() || !expected.defined()) return got.defined() == expected.defined();
  return torch::allclose(got, expected, /*rtol=*/1e-9, /*atol=*/1e-12);
}

// In double: scores() against reference_scores(), and the gradients of sum(weights * scores) in q,
// k and every parameter, through scores() and through tile_gradients() (the chunked path's
// backward), against autograd through the reference.
void check_score_against_reference(Score& score, const torch::Tensor& q_values,
                                   const torch::Tensor& k_values) {
  score.to(torch::kDouble);
  auto q = q_values.to(torch::kDouble).requires_grad_(true);  // [B,H,Tq,D]
  auto k = k_values.to(torch::kDouble).requires_grad_(true);  // [B,H,Tk,D]
  const auto fast = score.scores(q, k);                        // [B,H,Tq,Tk]
  const auto reference = score.reference_scores(q, k);         // [B,H,Tq,Tk]
  CHECK(torch::allclose(fast, reference, /*rtol=*/1e-10, /*atol=*/1e-12));
  const auto weights = torch::randn_like(reference);
  std::vector<torch::Tensor> inputs = {q, k};
  for (const auto& parameter : score.parameters()) inputs.push_back(parameter);
  const auto gradients = [&](const torch::Tensor& scores) {
    return torch::autograd::grad({scores}, inputs, {weights}, /*retain_graph=*/false,
                                 /*create_graph=*/false, /*allow_unused=*/true);
  };
  const auto expected = gradients(reference);
  const auto through_scores = gradients(fast);
  auto tiles = score.tile_gradients(q, k, weights);
  std::vector<torch::Tensor> through_tiles = {tiles.q, tiles.k};
  through_tiles.insert(through_tiles.end(), tiles.parameters.begin(), tiles.parameters.end());
  REQUIRE(through_tiles.size() == expected.size());
  for (std::size_t index = 0; index < expected.size(); ++index) {
    INFO("gradient in " << (index < 2 ? std::string(index == 0 ? "q" : "k")
                                      : "parameter " + std::to_string(index - 2)));
    CHECK(same_gradient(through_scores[index], expected[index]));
    CHECK(same_gradient(through_tiles[index], expected[index]));
  }
}

struct Reference {
  torch::Tensor out, probs, attended;  // attended: [B,H,Tq,Tk] bool, pairs with mass allowed
};

// The attention formula over the variant's parts' references, in double: q, k, v [B,H,T,D].
Reference reference_attention(const AttentionVariantImpl& variant, const torch::Tensor& q,
                              const torch::Tensor& k, const torch::Tensor& v) {
  const auto query_length = q.size(2), key_length = k.size(2);
  const auto [rotated_q, rotated_k] = variant.position().reference_rotate(q, k);
  auto scores = variant.score().reference_scores(rotated_q, rotated_k) +
                variant.position().reference_bias(query_length, key_length);  // [B,H,Tq,Tk]
  auto allowed = variant.pattern()
                     .reference_allowed(query_length, key_length, variant.site().causal)
                     .expand_as(scores);  // [B,H,Tq,Tk]
  scores = variant.pattern().reference_restrict_scores(
      scores.masked_fill(allowed.logical_not(), -kInfinity));
  auto probs = torch::softmax(scores, -1).nan_to_num(0.0);  // rows with no key attend to nothing
  return {torch::matmul(probs, v), probs, scores.isfinite()};
}

}  // namespace

TEST_CASE("every registered score matches its reference, gradients too", "[variants][parts]") {
  const std::int64_t batch = 2, heads = 3, head_dim = 8;
  for (const auto* entry : score_registry().entries()) {
    for (const auto& shape : kShapes) {
      DYNAMIC_SECTION("score " << entry->name << " " << shape.name) {
        torch::manual_seed(13);
        const AttentionSite site{/*layer=*/1, heads, head_dim, /*causal=*/false, shape.cross};
        auto score = entry->make(small_options(entry->name, "none", "full"), site);
        check_score_against_reference(*score,
                                      torch::randn({batch, heads, shape.query_length, head_dim}),
                                      torch::randn({batch, heads, shape.key_length, head_dim}));
      }
    }
  }
}

TEST_CASE("every registered position scheme matches its reference", "[variants][parts]") {
  const std::int64_t batch = 2, heads = 3, head_dim = 8;
  for (const auto* entry : position_registry().entries()) {
    for (const auto& shape : kShapes) {
      DYNAMIC_SECTION("position " << entry->name << " " << shape.name) {
        torch::manual_seed(13);
        const AttentionSite site{/*layer=*/1, heads, head_dim, /*causal=*/false, shape.cross};
        auto position = entry->make(small_options("scaled", entry->name, "full"), site);
        position->to(torch::kDouble);
        const auto q = torch::randn({batch, heads, shape.query_length, head_dim}, torch::kDouble);
        const auto k = torch::randn({batch, heads, shape.key_length, head_dim}, torch::kDouble);
        const auto rotated = position->rotate(q, k);
        const auto expected = position->reference_rotate(q, k);
        CHECK(torch::allclose(rotated.first, expected.first, /*rtol=*/1e-12, /*atol=*/1e-12));
        CHECK(torch::allclose(rotated.second, expected.second, /*rtol=*/1e-12, /*atol=*/1e-12));
        const auto expected_bias = position->reference_bias(shape.query_length, shape.key_length)
                                       .expand({heads, shape.query_length, shape.key_length});
        auto bias = position->bias(shape.query_length, shape.key_length, torch::kDouble);
        if (!bias.defined()) bias = torch::zeros_like(expected_bias);  // the scheme adds none
        CHECK(torch::allclose(bias.expand_as(expected_bias), expected_bias, /*rtol=*/1e-12,
                              /*atol=*/1e-12));
      }
    }
  }
}

TEST_CASE("every registered pattern matches its reference", "[variants][parts]") {
  const std::int64_t batch = 2, heads = 3;
  const std::vector<Shape> shapes = {kShapes[0], kShapes[1], {20, 16, true, "more queries"}};
  for (const auto* entry : pattern_registry().entries()) {
    for (const bool causal : {true, false}) {
      for (const auto& shape : shapes) {
        DYNAMIC_SECTION("pattern " << entry->name << (causal ? " causal " : " bidirectional ")
                                   << shape.name) {
          torch::manual_seed(13);
          const auto query_length = shape.query_length, key_length = shape.key_length;
          auto pattern = entry->make(small_options("scaled", "none", entry->name),
                                     AttentionSite{/*layer=*/2, heads, 8, causal, shape.cross});
          const auto expected = pattern->reference_allowed(query_length, key_length, causal)
                                    .expand({heads, query_length, key_length});
          auto allowed = pattern->allowed(query_length, key_length, causal);
          if (!allowed.defined()) allowed = torch::ones_like(expected);  // every key allowed
          CHECK(torch::equal(allowed.expand_as(expected), expected));
          const auto scores = torch::randn({batch, heads, query_length, key_length}, torch::kDouble)
                                  .masked_fill(expected.logical_not(), -kInfinity);
          CHECK(torch::equal(pattern->restrict_scores(scores),
                             pattern->reference_restrict_scores(scores)));
        }
      }
    }
  }
}

TEST_CASE("every registered variant matches the reference formula", "[variants]") {
  const std::int64_t batch = 2, heads = 3, head_dim = 8;
  for (const auto& combination : valid_combinations()) {
    for (const auto& shape : kShapes) {
      DYNAMIC_SECTION(combination.name() << " " << shape.name) {
        torch::manual_seed(7);
        const auto options =
            small_options(combination.score, combination.position, combination.pattern);
        AttentionSite site{/*layer=*/1, heads, head_dim, combination.causal, shape.cross};
        AttentionVariant variant(options, site);
        auto q = torch::randn({batch, heads, shape.query_length, head_dim});
        auto k = torch::randn({batch, heads, shape.key_length, head_dim});
        auto v = torch::randn({batch, heads, shape.key_length, head_dim});
        const auto expected = reference_attention(*variant, q.to(torch::kDouble),
                                                  k.to(torch::kDouble), v.to(torch::kDouble));

        // The plain path in fp32 against the formula.
        const auto got = variant->forward(q, k, v, /*need_probs=*/true);
        CHECK(torch::allclose(got.probs.to(torch::kDouble), expected.probs, /*rtol=*/1e-5,
                              /*atol=*/1e-6));
        CHECK(torch::allclose(got.out.to(torch::kDouble), expected.out, /*rtol=*/1e-5,
                              /*atol=*/1e-6));
        CHECK(torch::allclose(got.probs.sum(-1),
                              torch::ones({batch, heads, shape.query_length})));
        // Exactly zero mass wherever the pattern, causality or the top-k cut forbids.
        const auto forbidden = expected.attended.logical_not();
        CHECK(got.probs.masked_select(forbidden).abs().sum().item<double>() == 0.0);
        if (combination.causal) {
          auto later = torch::triu(torch::ones({shape.query_length, shape.key_length}, torch::kBool),
                                   /*diagonal=*/shape.key_length - shape.query_length + 1);
          CHECK(got.probs.masked_select(later.expand_as(got.probs)).abs().max().item<double>() ==
                0.0);
        }

        // Without probabilities the chunked path runs (Tk > variant.chunk, materialise_max 0)
        // and agrees.
        REQUIRE(variant->uses_chunked_path(shape.query_length, shape.key_length));
        const auto fast = variant->forward(q, k, v, /*need_probs=*/false);
        CHECK_FALSE(fast.probs.defined());
        CHECK(torch::allclose(fast.out.to(torch::kDouble), expected.out, /*rtol=*/1e-5,
                              /*atol=*/1e-6));

        // In double the two paths agree to rounding.
        variant->to(torch::kDouble);
        const auto qd = q.to(torch::kDouble), kd = k.to(torch::kDouble), vd = v.to(torch::kDouble);
        CHECK(torch::allclose(variant->forward_chunked(qd, kd, vd),
                              variant->forward_plain(qd, kd, vd).out, /*rtol=*/1e-10,
                              /*atol=*/1e-12));
      }
    }
  }
}

namespace {

// Directional finite difference of L = sum(out * weights) along a random direction, against the
// analytic gradient, for one input (q, k, v or a parameter) modified in place.
void check_directional_derivative(const std::function<torch::Tensor()>& loss, torch::Tensor input,
                                  const torch::Tensor& analytic_grad, const std::string& label) {
  const double step = 1e-6;
  auto direction = torch::randn_like(input);
  double plus = 0, minus = 0;
  {
    torch::NoGradGuard no_grad;
    input.add_(direction * step);
    plus = loss().item<double>();
    input.sub_(direction * (2 * step));
    minus = loss().item<double>();
    input.add_(direction * step);
  }
  const double numeric = (plus - minus) / (2 * step);
  REQUIRE(analytic_grad.defined());
  const double analytic = (analytic_grad * direction).sum().item<double>();
  INFO(label << ": numeric " << numeric << ", analytic " << analytic);
  CHECK(std::abs(numeric - analytic) <= 1e-6 * std::max(1.0, std::abs(analytic)));
}

}  // namespace

TEST_CASE("finite-difference gradients through the plain and the chunked path",
          "[variants][gradients]") {
  const std::int64_t heads = 2, length = 8, head_dim = 4;
  for (const auto& combination : valid_combinations()) {
    for (const std::string path : {"plain", "chunked"}) {
      DYNAMIC_SECTION(combination.name() << " " << path) {
        torch::manual_seed(11);
        auto options = small_options(combination.score, combination.position, combination.pattern);
        options.set("chunk", std::int64_t{3});
        options.set("block", std::int64_t{2});
        options.set("window", std::int64_t{2});
        options.set("stride", std::int64_t{2});
        options.set("topk", std::int64_t{3});
        AttentionVariant variant(options, AttentionSite{/*layer=*/0, heads, head_dim,
                                                         combination.causal, /*cross=*/false});
        variant->to(torch::kDouble);
        const auto shape = std::vector<std::int64_t>{1, heads, length, head_dim};
        auto q = torch::randn(shape, torch::kDouble).requires_grad_(true);
        auto k = torch::randn(shape, torch::kDouble).requires_grad_(true);
        auto v = torch::randn(shape, torch::kDouble).requires_grad_(true);
        const auto weights = torch::randn(shape, torch::kDouble);
        auto loss = [&] {
          auto out = path == "plain" ? variant->forward_plain(q, k, v).out
                                     : variant->forward_chunked(q, k, v);
          return (out * weights).sum();
        };
        loss().backward();
        check_directional_derivative(loss, q, q.grad().clone(), "q");
        check_directional_derivative(loss, k, k.grad().clone(), "k");
        check_directional_derivative(loss, v, v.grad().clone(), "v");
        for (auto& named : variant->named_parameters()) {
          check_directional_derivative(loss, named.value(), named.value().grad().clone(),
                                       named.key());
        }
      }
    }
  }
}

TEST_CASE("additive scores are computed in chunks and match the 5-D formula", "[variants]") {
  torch::manual_seed(5);
  // Tk x A large enough that a [B,H,rows,Tk,A] chunk holds only a few query rows.
  const std::int64_t batch = 2, heads = 4, query_length = 10, key_length = 512, head_dim = 6;
  auto options = small_options("additive", "none", "full");
  options.set("additive_hidden", std::int64_t{64});
  auto score = score_registry().at("additive").make(
      options, AttentionSite{0, heads, head_dim, /*causal=*/false, /*cross=*/true});
  check_score_against_reference(*score, torch::randn({batch, heads, query_length, head_dim}),
                                torch::randn({batch, heads, key_length, head_dim}));
}

TEST_CASE("RoPE scores depend only on i - j for fixed content", "[variants]") {
  torch::manual_seed(2);
  const std::int64_t head_dim = 8;
  for (const double fraction : {1.0, 0.5}) {
    for (const auto& shape : kShapes) {
      DYNAMIC_SECTION("rope_fraction " << fraction << " " << shape.name) {
        auto options = small_options("dot", "rope", "full");
        options.set("rope_fraction", fraction);
        AttentionSite site{0, /*heads=*/1, head_dim, /*causal=*/false, shape.cross};
        auto position = position_registry().at("rope").make(options, site);
        // The same query vector at every position, the same key vector at every position.
        auto q = torch::randn({head_dim}, torch::kDouble).expand({1, 1, shape.query_length, head_dim});
        auto k = torch::randn({head_dim}, torch::kDouble).expand({1, 1, shape.key_length, head_dim});
        auto [rotated_q, rotated_k] = position->rotate(q, k);
        auto scores = torch::matmul(rotated_q, rotated_k.transpose(-2, -1))[0][0];  // [Tq,Tk]
        auto diagonal_steps = scores.slice(0, 1).slice(1, 1) - scores.slice(0, 0, -1).slice(1, 0, -1);
        CHECK(diagonal_steps.abs().max().item<double>() < 1e-12);
        // ... and they do depend on i - j (the rotation is not the identity).
        CHECK((scores[0][0] - scores[0][shape.key_length - 1]).abs().item<double>() > 1e-6);
        // Rotations keep norms; with fraction 0.5 the upper half of the dimensions is untouched.
        CHECK(torch::allclose(rotated_q.norm(2, -1), q.norm(2, -1)));
        if (fraction == 0.5) {
          CHECK(torch::equal(rotated_q.narrow(-1, 4, 4), q.narrow(-1, 4, 4)));
        }
      }
    }
  }
}

TEST_CASE("ALiBi slopes are the published ones", "[variants]") {
  auto alibi_for = [](std::int64_t heads) {
    AttentionSite site{0, heads, /*head_dim=*/4, /*causal=*/true, /*cross=*/false};
    return position_registry().at("alibi").make(small_options("scaled", "alibi", "full"), site);
  };
  auto slopes_in = [](const torch::Tensor& bias) {  // bias [H,2,2]
    CHECK(bias.select(1, 0).select(1, 0).abs().max().item<double>() == 0.0);  // distance 0
    return (-bias.select(1, 1).select(1, 0)).contiguous();  // distance 1: the slopes [H]
  };
  auto slopes_of = [&](std::int64_t heads) {
    return slopes_in(alibi_for(heads)->bias(/*query_length=*/2, /*key_length=*/2, torch::kDouble));
  };
  // H = 8: 1/2, 1/4, ..., 1/256.
  const auto eight = slopes_of(8);
  for (std::int64_t h = 0; h < 8; ++h) {
    CHECK(eight[h].item<double>() == Approx(std::pow(2.0, -(h + 1))).epsilon(1e-12));
  }
  // H not a power of two: the slopes of 8, then every other slope of 16.
  const auto twelve = slopes_of(12);
  const std::vector<double> expected_twelve = {
      0.5,    0.25,   0.125,  0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625,
      std::pow(2.0, -0.5), std::pow(2.0, -1.5), std::pow(2.0, -2.5), std::pow(2.0, -3.5)};
  for (std::int64_t h = 0; h < 12; ++h) {
    CHECK(twelve[h].item<double>() == Approx(expected_twelve[h]).epsilon(1e-12));
  }
  for (std::int64_t heads : {1, 3, 5, 6, 16}) {
    const auto slopes = slopes_of(heads);
    // The reference's slopes are Press et al.'s get_slopes(n), transcribed from the paper's code.
    const auto published = slopes_in(alibi_for(heads)->reference_bias(2, 2));
    for (std::int64_t h = 0; h < heads; ++h) {
      CHECK(slopes[h].item<double>() == Approx(published[h].item<double>()).epsilon(1e-12));
    }
  }
  // The bias is linear in distance: -m_h * |i - j|.
  auto bias = alibi_for(4)->bias(5, 5, torch::kDouble);  // [H,5,5]
  CHECK(bias[2][4][0].item<double>() == Approx(-4 * std::pow(2.0, -6.0)));
  CHECK(bias[2][0][4].item<double>() == Approx(-4 * std::pow(2.0, -6.0)));
}

TEST_CASE("bigbird's layout is exactly the configured blocks", "[variants]") {
  const std::int64_t heads = 4, block = 4, key_blocks = 8, length = block * key_blocks;
  auto options = small_options("scaled", "none", "bigbird");
  options.set("global_blocks", std::int64_t{1});
  options.set("random_blocks", std::int64_t{2});
  auto allowed_for = [&](const VariantOptions& chosen, std::int64_t layer, bool causal) {
    AttentionVariant variant(chosen, AttentionSite{layer, heads, 8, causal, false});
    return variant->allowed(length, length).clone();  // [H,T,T]
  };
  for (bool causal : {false, true}) {
    DYNAMIC_SECTION((causal ? "causal" : "bidirectional")) {
      const auto allowed = allowed_for(options, /*layer=*/0, causal);
      REQUIRE(allowed.sizes() == std::vector<std::int64_t>({heads, length, length}));
      // Block structure: every (query block, key block) tile is all or nothing (causal: all or
      // nothing below the diagonal, and never above).
      auto tiles = allowed.view({heads, key_blocks, block, key_blocks, block});
      auto positions = torch::arange(length);
      auto causal_mask = positions.view({1, -1}).le(positions.view({-1, 1}))
                             .view({1, key_blocks, block, key_blocks, block});
      auto open = causal ? tiles.logical_or(causal_mask.logical_not()) : tiles;
      auto opened = open.all(4).all(2);    // [H,QB,KB]
      auto touched = tiles.any(4).any(2);  // [H,QB,KB]
      // Causal attention never reaches key blocks after the query block.
      auto reachable = torch::ones({key_blocks, key_blocks}, torch::kBool);
      if (causal) reachable = reachable.tril();
      CHECK(torch::equal(opened.logical_and(reachable), touched.logical_and(reachable)));
      if (causal) {
        CHECK_FALSE(allowed.logical_and(causal_mask.view({1, length, length}).logical_not())
                        .any()
                        .item<bool>());
      }
      bool heads_differ = false;
      for (std::int64_t h = 0; h < heads; ++h) {
        for (std::int64_t query_block = 0; query_block < key_blocks; ++query_block) {
          std::set<std::int64_t> expected_shared, candidates, random;
          const std::int64_t last = causal ? query_block : key_blocks - 1;
          for (std::int64_t key_block = 0; key_block <= last; ++key_block) {
            const bool shared = query_block < 1 || key_block < 1 ||
                                std::abs(query_block - key_block) <= 1;
            if (shared) {
              expected_shared.insert(key_block);
            } else {
              candidates.insert(key_block);
            }
            if (!touched[h][query_block][key_block].item<bool>()) {
              CHECK_FALSE(shared);  // own, neighbouring and global blocks are always open
            } else if (!shared) {
              random.insert(key_block);
            }
          }
          for (std::int64_t key_block = last + 1; key_block < key_blocks; ++key_block) {
            CHECK_FALSE(touched[h][query_block][key_block].item<bool>());
          }
          INFO("head " << h << " query block " << query_block);
          CHECK(random.size() == std::min<std::size_t>(2, candidates.size()));
          if (h > 0) {
            for (std::int64_t key_block = 0; key_block < key_blocks; ++key_block) {
              heads_differ |= touched[h][query_block][key_block].item<bool>() !=
                              touched[0][query_block][key_block].item<bool>();
            }
          }
        }
      }
      CHECK(heads_differ);  // drawn per head
      // Fixed for a layer: rebuilding gives the same draw; another layer or seed another one.
      CHECK(torch::equal(allowed_for(options, 0, causal), allowed));
      CHECK_FALSE(torch::equal(allowed_for(options, 1, causal), allowed));
      auto reseeded = options;
      reseeded.set("random_seed", std::int64_t{1});
      CHECK_FALSE(torch::equal(allowed_for(reseeded, 0, causal), allowed));
    }
  }
}

TEST_CASE("incompatible parts are rejected", "[variants]") {
  // RoPE encodes i - j only through a dot product of q and k.
  try {
    validate(small_options("additive", "rope", "local"));
    FAIL("accepted rope with additive scores");
  } catch (const VariantError& error) {
    CHECK_THAT(error.what(), Catch::Contains("variant.position"));
    CHECK_THAT(error.what(), Catch::Contains("rope"));
    CHECK_THAT(error.what(), Catch::Contains("additive"));
  }
  // Every position combines with every dot-product score and pattern.
  for (const auto* position : position_registry().entries()) {
    for (const std::string score : {"dot", "scaled"}) {
      CHECK_NOTHROW(validate(small_options(score, position->name, "bigbird")));
    }
  }
}

TEST_CASE("length-dependent errors name the key", "[variants]") {
  auto options = small_options("scaled", "none", "bigbird");
  options.set("block", std::int64_t{5});
  AttentionSite site{0, 2, 4, false, false};
  AttentionVariant variant(options, site);
  auto x = torch::randn({1, 2, 12, 4});
  CHECK_THROWS_WITH(variant->forward(x, x, x), Catch::Contains("variant.block"));
  CHECK_THROWS_WITH(variant->forward(x, x, x, /*need_probs=*/true), Catch::Contains("variant.block"));
  CHECK_THROWS_AS(validate_lengths(options, site, 12, 12), VariantError);
  CHECK_NOTHROW(validate_lengths(options, site, 15, 15));
  options.set("block", std::int64_t{4});
  options.set("global_blocks", std::int64_t{4});
  CHECK_THROWS_WITH(validate_lengths(options, site, 12, 12), Catch::Contains("variant.global_blocks"));
  // A rotary fraction that rotates nothing is named too.
  auto rope = small_options("scaled", "rope", "full");
  rope.set("rope_fraction", 0.1);
  CHECK_THROWS_WITH(AttentionVariant(rope, site), Catch::Contains("variant.rope_fraction"));
}

TEST_CASE("unknown variant names fail and list the registered ones", "[variants]") {
  for (const std::string kind : {"score", "position", "pattern"}) {
    DYNAMIC_SECTION(kind) {
      auto options = small_options("scaled", "none", "full");
      options.set(kind, std::string("softmax-of-doom"));
      try {
        validate(options);
        FAIL("validate accepted an unknown " << kind);
      } catch (const std::invalid_argument& error) {
        const std::string message = error.what();
        CHECK_THAT(message, Catch::Contains("variant." + kind));
        CHECK_THAT(message, Catch::Contains("softmax-of-doom"));
        CHECK_THAT(message, Catch::Contains(kind == "score" ? "scaled" : kind == "position" ? "rope"
                                                                                          : "bigbird"));
      }
    }
  }
}

TEST_CASE("the chunked path runs without probabilities beyond one tile", "[variants]") {
  auto options = small_options("scaled", "alibi", "local");
  options.set("chunk", std::int64_t{8});
  AttentionVariant variant(options, AttentionSite{0, 2, 4, /*causal=*/true, /*cross=*/false});
  CHECK_FALSE(variant->uses_chunked_path(8, 8));
  CHECK(variant->uses_chunked_path(9, 9));
  CHECK(variant->uses_chunked_path(4, 9));
  auto x = torch::randn({1, 2, 9, 4});
  CHECK(variant->forward(x, x, x, /*need_probs=*/true).probs.defined());
}

TEST_CASE("cross-attention lines queries up with keys of another length", "[variants]") {
  torch::manual_seed(3);
  AttentionSite site{0, 2, 4, /*causal=*/false, /*cross=*/true};
  AttentionVariant variant(small_options("scaled", "none", "full"), site);
  auto q = torch::randn({1, 2, 5, 4}), k = torch::randn({1, 2, 7, 4}), v = torch::randn({1, 2, 7, 4});
  const auto got = variant->forward(q, k, v, true);
  CHECK(got.probs.sizes() == std::vector<std::int64_t>({1, 2, 5, 7}));
  CHECK(got.out.sizes() == std::vector<std::int64_t>({1, 2, 5, 4}));
  CHECK(torch::allclose(got.probs.sum(-1), torch::ones({1, 2, 5})));
}
