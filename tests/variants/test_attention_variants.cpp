// The same checks over every registered combination of score, position and pattern, causal and
// bidirectional, self- and cross-attention: outputs and probabilities against a plain reference
// written here from the formulas (it FAILs for a part it has no formula for), the chunked path
// against the plain one, rows summing to one, zero mass where the pattern or causality forbids,
// and finite-difference gradients through both paths. Then part-specific properties (RoPE,
// ALiBi, bigbird, additive) and bad configurations.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include "experiments/config/config.h"
#include "experiments/run/schema.h"
#include "tests/variants/variant_test_support.h"
#include "variants/attention_variant.h"

using namespace attnlab::variants;
using attnlab::variants::testing::Combination;
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

// ---- the reference, written from the formulas (in double) --------------------------------------

// RoPE: dimension pairs (m, m + R/2) of x [B,H,T,D] turned by position * base^(-2m/R).
torch::Tensor reference_rope(const torch::Tensor& x, std::int64_t first_position, double base,
                             double fraction) {
  const std::int64_t half = static_cast<std::int64_t>(std::floor(fraction * x.size(-1) / 2.0));
  auto positions = torch::arange(first_position, first_position + x.size(2), torch::kDouble);
  auto out = x.clone();
  for (std::int64_t m = 0; m < half; ++m) {
    const double frequency = std::pow(base, -2.0 * m / (2.0 * half));
    auto cos = (positions * frequency).cos().view({1, 1, -1});  // [1,1,T]
    auto sin = (positions * frequency).sin().view({1, 1, -1});  // [1,1,T]
    auto first = x.select(-1, m), second = x.select(-1, m + half);  // [B,H,T]
    out.select(-1, m).copy_(first * cos - second * sin);
    out.select(-1, m + half).copy_(second * cos + first * sin);
  }
  return out;
}

// Press et al.'s get_slopes(n), transcribed from the paper's code.
std::vector<double> published_alibi_slopes(std::int64_t heads) {
  auto power_of_2 = [](std::int64_t n) {
    const double start = std::pow(2.0, -std::pow(2.0, -(std::log2(static_cast<double>(n)) - 3)));
    std::vector<double> slopes;
    for (std::int64_t i = 0; i < n; ++i) slopes.push_back(start * std::pow(start, i));
    return slopes;
  };
  const double log_heads = std::log2(static_cast<double>(heads));
  if (log_heads == std::floor(log_heads)) return power_of_2(heads);
  const auto closest = static_cast<std::int64_t>(std::pow(2.0, std::floor(log_heads)));
  auto slopes = power_of_2(closest);
  const auto doubled = published_alibi_slopes(2 * closest);
  for (std::size_t i = 0; i < doubled.size() && slopes.size() < static_cast<std::size_t>(heads);
       i += 2) {
    slopes.push_back(doubled[i]);
  }
  return slopes;
}

torch::Tensor parameter(AttentionVariant& variant, const std::string& name) {
  for (const auto& named : variant->named_parameters()) {
    if (named.key() == name) return named.value().detach().to(torch::kDouble);
  }
  FAIL("the variant has no parameter " << name);
  return {};
}

torch::Tensor reference_scores(const std::string& score, const torch::Tensor& q,
                               const torch::Tensor& k, AttentionVariant& variant) {
  const double head_dim = static_cast<double>(q.size(-1));
  if (score == "scaled") return torch::einsum("bhid,bhjd->bhij", {q, k}) / std::sqrt(head_dim);
  if (score == "dot") return torch::einsum("bhid,bhjd->bhij", {q, k});
  if (score == "additive") {
    auto query_projection = parameter(variant, "score.query_projection");  // [H,D,A]
    auto key_projection = parameter(variant, "score.key_projection");      // [H,D,A]
    auto vector = parameter(variant, "score.vector");                      // [H,A]
    auto projected_q = torch::einsum("bhid,hda->bhia", {q, query_projection});
    auto projected_k = torch::einsum("bhjd,hda->bhja", {k, key_projection});
    auto hidden = torch::tanh(projected_q.unsqueeze(3) + projected_k.unsqueeze(2));  // [B,H,i,j,A]
    return torch::einsum("bhija,ha->bhij", {hidden, vector});
  }
  FAIL("no reference for score '" << score << "': add one to this test");
  return {};
}

// [H,Tq,Tk] additive bias.
torch::Tensor reference_bias(const std::string& position, std::int64_t heads,
                             std::int64_t query_length, std::int64_t key_length) {
  auto bias = torch::zeros({heads, query_length, key_length}, torch::kDouble);
  if (position == "none" || position == "rope") return bias;
  if (position == "alibi") {
    const auto slopes = published_alibi_slopes(heads);
    for (std::int64_t h = 0; h < heads; ++h) {
      for (std::int64_t i = 0; i < query_length; ++i) {
        for (std::int64_t j = 0; j < key_length; ++j) {
          const auto distance = std::abs(i + key_length - query_length - j);
          bias[h][i][j] = -slopes[h] * static_cast<double>(distance);
        }
      }
    }
    return bias;
  }
  FAIL("no reference for position '" << position << "': add one to this test");
  return {};
}

// Key blocks of each (head, query block) that bigbird's allowed() opens beyond its own,
// neighbouring and global blocks: its random draw, which the bigbird test checks.
std::map<std::pair<std::int64_t, std::int64_t>, std::set<std::int64_t>> bigbird_random_blocks(
    AttentionVariant& variant, const VariantOptions& options, std::int64_t query_length,
    std::int64_t key_length) {
  const auto block = options.get_int("block"), global = options.get_int("global_blocks");
  const auto allowed = variant->allowed(query_length, key_length);  // [H,Tq,Tk]
  std::map<std::pair<std::int64_t, std::int64_t>, std::set<std::int64_t>> random;
  for (std::int64_t h = 0; h < allowed.size(0); ++h) {
    for (std::int64_t i = 0; i < query_length; ++i) {
      const auto query_block = (i + key_length - query_length) / block;
      for (std::int64_t j = 0; j < key_length; ++j) {
        const auto key_block = j / block;
        if (query_block < global || std::abs(query_block - key_block) <= 1 || key_block < global)
          continue;
        if (allowed[h][i][j].item<bool>()) random[{h, query_block}].insert(key_block);
      }
    }
  }
  return random;
}

// [H,Tq,Tk] bool from each pattern's definition, query i at position p = i + Tk - Tq.
torch::Tensor reference_allowed(const std::string& pattern, const VariantOptions& options,
                                AttentionVariant& variant, std::int64_t heads,
                                std::int64_t query_length, std::int64_t key_length, bool causal) {
  std::map<std::pair<std::int64_t, std::int64_t>, std::set<std::int64_t>> random;
  if (pattern == "bigbird") random = bigbird_random_blocks(variant, options, query_length, key_length);
  auto allowed = torch::zeros({heads, query_length, key_length}, torch::kBool);
  for (std::int64_t h = 0; h < heads; ++h) {
    for (std::int64_t i = 0; i < query_length; ++i) {
      const std::int64_t p = i + key_length - query_length;
      for (std::int64_t j = 0; j < key_length; ++j) {
        bool open = false;
        if (pattern == "full" || pattern == "topk") {
          open = true;
        } else if (pattern == "local") {
          const auto window = options.get_int("window");
          open = options.get_string("window_sides") == "two" ? std::abs(p - j) <= window
                                                             : (p - j >= 0 && p - j <= window);
        } else if (pattern == "strided") {
          const auto stride = options.get_int("stride");
          open = std::abs(p - j) <= stride || (p - j) % stride == 0;
        } else if (pattern == "bigbird") {
          const auto block = options.get_int("block"), global = options.get_int("global_blocks");
          const auto query_block = p / block, key_block = j / block;
          open = query_block < global || std::abs(query_block - key_block) <= 1 ||
                 key_block < global || random[{h, query_block}].count(key_block) > 0;
        } else {
          FAIL("no reference for pattern '" << pattern << "': add one to this test");
        }
        allowed[h][i][j] = open && !(causal && j > p);
      }
    }
  }
  return allowed;
}

struct Reference {
  torch::Tensor out, probs, attended;  // attended: [B,H,Tq,Tk] bool, pairs with mass allowed
};

Reference reference_attention(const Combination& combination, const VariantOptions& options,
                              AttentionVariant& variant, torch::Tensor q, torch::Tensor k,
                              const torch::Tensor& v) {
  const auto heads = q.size(1), query_length = q.size(2), key_length = k.size(2);
  if (combination.position == "rope") {
    const double base = options.get_float("rope_base"), fraction = options.get_float("rope_fraction");
    q = reference_rope(q, key_length - query_length, base, fraction);
    k = reference_rope(k, 0, base, fraction);
  }
  auto scores = reference_scores(combination.score, q, k, variant) +
                reference_bias(combination.position, heads, query_length, key_length);
  auto allowed = reference_allowed(combination.pattern, options, variant, heads, query_length,
                                   key_length, combination.causal)
                     .unsqueeze(0)
                     .expand_as(scores);  // [B,H,Tq,Tk]
  scores = scores.masked_fill(allowed.logical_not(), -kInfinity);
  if (combination.pattern == "topk") {
    const auto keep = std::min(options.get_int("topk"), key_length);
    auto sorted = std::get<0>(scores.sort(/*dim=*/-1, /*descending=*/true));
    scores = scores.masked_fill(scores < sorted.narrow(-1, keep - 1, 1), -kInfinity);
  }
  auto probs = torch::softmax(scores, -1).nan_to_num(0.0);  // rows with no key attend to nothing
  return {torch::matmul(probs, v), probs, scores.isfinite()};
}

}  // namespace

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
        const auto expected =
            reference_attention(combination, options, variant, q.to(torch::kDouble),
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
                              variant->forward_reference(qd, kd, vd).out, /*rtol=*/1e-10,
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
          auto out = path == "plain" ? variant->forward_reference(q, k, v).out
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
        if (combination.score == "additive") CHECK(variant->parameters().size() == 3);
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
  AttentionVariant variant(options,
                           AttentionSite{0, heads, head_dim, /*causal=*/false, /*cross=*/true});
  variant->to(torch::kDouble);
  auto q = torch::randn({batch, heads, query_length, head_dim}, torch::kDouble).requires_grad_(true);
  auto k = torch::randn({batch, heads, key_length, head_dim}, torch::kDouble).requires_grad_(true);
  auto v = torch::randn({batch, heads, key_length, head_dim}, torch::kDouble);
  const auto weights = torch::randn({batch, heads, query_length, head_dim}, torch::kDouble);

  // Gradients of the chunked score function against autograd through the formula.
  (variant->forward_reference(q, k, v).out * weights).sum().backward();
  std::vector<torch::Tensor> chunked_grads = {q.grad().clone(), k.grad().clone()};
  for (const auto& parameter : variant->parameters()) chunked_grads.push_back(parameter.grad().clone());
  q.mutable_grad() = torch::Tensor();
  k.mutable_grad() = torch::Tensor();
  variant->zero_grad();
  auto query_projection = variant->named_parameters()["score.query_projection"];
  auto key_projection = variant->named_parameters()["score.key_projection"];
  auto vector = variant->named_parameters()["score.vector"];
  auto hidden = torch::tanh(torch::einsum("bhid,hda->bhia", {q, query_projection}).unsqueeze(3) +
                            torch::einsum("bhjd,hda->bhja", {k, key_projection}).unsqueeze(2));
  auto scores = torch::einsum("bhija,ha->bhij", {hidden, vector});  // [B,H,Tq,Tk]
  const auto formula_out = torch::matmul(torch::softmax(scores, -1), v);
  CHECK(torch::allclose(variant->forward_reference(q, k, v).out, formula_out, 1e-10, 1e-12));
  (formula_out * weights).sum().backward();
  std::vector<torch::Tensor> formula_grads = {q.grad(), k.grad()};
  for (const auto& parameter : variant->parameters()) formula_grads.push_back(parameter.grad());
  REQUIRE(chunked_grads.size() == formula_grads.size());
  for (std::size_t i = 0; i < chunked_grads.size(); ++i) {
    CHECK(torch::allclose(chunked_grads[i], formula_grads[i], 1e-9, 1e-12));
  }
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
  auto slopes_of = [](std::int64_t heads) {
    AttentionSite site{0, heads, /*head_dim=*/4, /*causal=*/true, /*cross=*/false};
    auto position = position_registry().at("alibi").make(small_options("scaled", "alibi", "full"),
                                                          site);
    auto bias = position->bias(/*query_length=*/2, /*key_length=*/2, torch::kDouble);  // [H,2,2]
    CHECK(bias.select(1, 0).select(1, 0).abs().max().item<double>() == 0.0);  // distance 0
    return (-bias.select(1, 1).select(1, 0)).contiguous();  // distance 1: the slopes [H]
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
    const auto published = published_alibi_slopes(heads);
    for (std::int64_t h = 0; h < heads; ++h) {
      CHECK(slopes[h].item<double>() == Approx(published[h]).epsilon(1e-12));
    }
  }
  // The bias is linear in distance: -m_h * |i - j|.
  AttentionSite site{0, 4, 4, false, false};
  auto bias = position_registry().at("alibi").make(small_options("scaled", "alibi", "full"), site)
                  ->bias(5, 5, torch::kDouble);  // [H,5,5]
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

TEST_CASE("options out of range are config errors naming the key", "[variants]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"variant.window=0", "variant.window"},
      {"variant.window=-3", "variant.window"},
      {"variant.window_sides=three", "variant.window_sides"},
      {"variant.stride=0", "variant.stride"},
      {"variant.block=0", "variant.block"},
      {"variant.global_blocks=-1", "variant.global_blocks"},
      {"variant.random_blocks=-1", "variant.random_blocks"},
      {"variant.topk=0", "variant.topk"},
      {"variant.additive_hidden=0", "variant.additive_hidden"},
      {"variant.rope_base=0", "variant.rope_base"},
      {"variant.rope_fraction=1.5", "variant.rope_fraction"},
      {"variant.chunk=0", "variant.chunk"},
      {"variant.pattern=diagonal", "variant.pattern"},
      {"variant.position=learned", "variant.position"},
  };
  for (const auto& [override_text, key] : cases) {
    DYNAMIC_SECTION(override_text) {
      try {
        attnlab::run::load_config({}, {override_text});
        FAIL("accepted " << override_text);
      } catch (const attnlab::config::ConfigError& error) {
        CHECK_THAT(error.what(), Catch::Contains(key));
      }
    }
  }
}

TEST_CASE("incompatible parts are rejected at config time", "[variants]") {
  // RoPE encodes i - j only through a dot product of q and k.
  try {
    validate(small_options("additive", "rope", "local"));
    FAIL("accepted rope with additive scores");
  } catch (const VariantError& error) {
    CHECK_THAT(error.what(), Catch::Contains("variant.position"));
    CHECK_THAT(error.what(), Catch::Contains("rope"));
    CHECK_THAT(error.what(), Catch::Contains("additive"));
  }
  try {
    attnlab::run::load_config({}, {"variant=rope", "variant.score=additive"});
    FAIL("the config layer accepted rope with additive scores");
  } catch (const attnlab::config::ConfigError& error) {
    CHECK_THAT(error.what(), Catch::Contains("variant.position"));
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

TEST_CASE("every variant preset loads, builds and runs both paths", "[variants]") {
  const auto directory = attnlab::run::default_config_dir() / "variant";
  std::set<std::string> presets;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (entry.path().extension() == ".toml") presets.insert(entry.path().stem().string());
  }
  for (const std::string expected : {"dot", "scaled", "additive", "rope", "alibi", "local",
                                     "strided", "bigbird", "topk", "rope_local"}) {
    CHECK(presets.count(expected) == 1);
  }
  for (const auto& preset : presets) {
    DYNAMIC_SECTION(preset) {
      torch::manual_seed(1);
      auto options = attnlab::run::variant_options(
          attnlab::run::load_config({}, {"variant=" + preset, "variant.chunk=16", "variant.materialise_max=0"}));
      AttentionVariant variant(options, AttentionSite{0, 2, 8, /*causal=*/true, /*cross=*/false});
      auto x = torch::randn({1, 2, 64, 8});
      const auto plain = variant->forward(x, x, x, /*need_probs=*/true);
      const auto fast = variant->forward(x, x, x);
      CHECK(torch::allclose(plain.out, fast.out, 1e-5, 1e-6));
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
