// The fused head-by-head CPU path against the plain path: outputs and gradients for
// every combination of parts it serves, self- and cross-attention, with soft-capping, a sink and
// shared key/value heads, inputs laid out as views of one fused projection (as the model passes
// them), queries with no allowed key, and which combinations it serves at all.
#include <catch2/catch.hpp>

#include <ATen/Parallel.h>

#include "tests/variants/fast_path_test_support.h"
#include "tests/variants/variant_test_support.h"
#include "variants/attention_variant.h"
#include "variants/fused_attention.h"

using namespace attnlab::variants;
using namespace attnlab::variants::testing;

namespace {

// q, k, v [B,H,T,D] as the model makes them: strided views of one [B,T,3C] projection.
struct Inputs {
  torch::Tensor projection, q, k, v;
};

Inputs fused_projection_inputs(std::int64_t batch, std::int64_t heads, std::int64_t length,
                               std::int64_t head_dim) {
  Inputs inputs;
  inputs.projection = torch::randn({batch, length, 3 * heads * head_dim}).requires_grad_(true);
  auto parts = inputs.projection.chunk(3, /*dim=*/-1);
  const auto split = [&](const torch::Tensor& x) {
    return x.view({batch, length, heads, head_dim}).transpose(1, 2);
  };
  inputs.q = split(parts[0]);
  inputs.k = split(parts[1]);
  inputs.v = split(parts[2]);
  return inputs;
}

PathResult run_fused(AttentionVariant& variant, AttentionInputs& inputs) {
  return run_path(variant, inputs,
                  [&] { return variant->forward_fused(inputs.q, inputs.k, inputs.v); });
}

}  // namespace

TEST_CASE("the fused path agrees with the plain path in outputs and gradients",
          "[variants][fused]") {
  at::set_num_threads(2);  // heads split across threads
  const std::int64_t batch = 3, heads = 2, head_dim = 4;
  for (const auto& combination : valid_combinations()) {
    for (const bool cross : {false, true}) {
      if (cross && combination.causal) continue;  // cross-attention sees every source token
      DYNAMIC_SECTION(combination.name() << (cross ? " cross" : " self")) {
        torch::manual_seed(3);
        auto options = small_options(combination.score, combination.position, combination.pattern);
        AttentionVariant variant(options, AttentionSite{0, heads, head_dim, combination.causal, cross});
        // Over two row blocks (the last one partial), so that each block's own span of allowed
        // keys is exercised; cross-attention with more queries than keys.
        const std::int64_t keys = kFusedRowBlock + 8, queries = cross ? kFusedRowBlock + 24 : keys;
        auto q = torch::randn({batch, heads, queries, head_dim}).requires_grad_(true);
        auto k = torch::randn({batch, heads, keys, head_dim}).requires_grad_(true);
        auto v = torch::randn({batch, heads, keys, head_dim}).requires_grad_(true);
        // Not served: scores other than `scale * q·k`, score-dependent patterns, and a learned
        // position bias (T5's), which needs autograd through the bias.
        const bool served = combination.score != "additive" && combination.pattern != "topk" &&
                            combination.position != "t5";
        REQUIRE(variant->uses_fused_path(q, k, v) == served);
        // A `return` here would hide the later sections from Catch; the rest is skipped instead.
        const auto weights = torch::randn({batch, heads, queries, head_dim});
        const auto gradients = [&](const torch::Tensor& out) {
          q.mutable_grad() = torch::Tensor();
          k.mutable_grad() = torch::Tensor();
          v.mutable_grad() = torch::Tensor();
          (out * weights).sum().backward();
          return std::vector<torch::Tensor>{q.grad().clone(), k.grad().clone(), v.grad().clone()};
        };
        if (served) {
          const auto plain = variant->forward_plain(q, k, v).out;
          const auto plain_grads = gradients(plain);
          const auto fused = variant->forward_fused(q, k, v);
          const auto fused_grads = gradients(fused);
          CHECK(torch::allclose(fused, plain, 1e-5, 1e-6));
          for (std::size_t index = 0; index < 3; ++index) {
            INFO("gradient " << "qkv"[index]);
            CHECK(torch::allclose(fused_grads[index], plain_grads[index], 1e-4, 1e-5));
          }
        }
      }
    }
  }
}

TEST_CASE("forward without probabilities takes the fused path on strided projection views",
          "[variants][fused]") {
  torch::manual_seed(4);
  auto options = small_options("scaled", "alibi", "full");
  options.set("materialise_max", std::int64_t{64});
  AttentionVariant variant(options, AttentionSite{0, 4, 8, /*causal=*/true, /*cross=*/false});
  auto inputs = fused_projection_inputs(2, 4, 16, 8);
  REQUIRE_FALSE(inputs.q.is_contiguous());
  REQUIRE_FALSE(variant->uses_chunked_path(16, 16));
  REQUIRE(variant->uses_fused_path(inputs.q, inputs.k, inputs.v));

  const auto weights = torch::randn({2, 4, 16, 8});
  const auto fast = variant->forward(inputs.q, inputs.k, inputs.v, /*need_probs=*/false);
  CHECK_FALSE(fast.probs.defined());
  // The heads come back as a view of a [B,T,H,D] tensor: merging them needs no copy.
  CHECK(fast.out.transpose(1, 2).is_contiguous());
  (fast.out * weights).sum().backward();
  const auto fast_grad = inputs.projection.grad().clone();
  inputs.projection.mutable_grad() = torch::Tensor();
  const auto plain = variant->forward(inputs.q, inputs.k, inputs.v, /*need_probs=*/true);
  (plain.out * weights).sum().backward();
  CHECK(torch::allclose(fast.out, plain.out, 1e-5, 1e-6));
  CHECK(torch::allclose(fast_grad, inputs.projection.grad(), 1e-4, 1e-5));
}

TEST_CASE("a query with no allowed key attends to nothing on the fused path", "[variants][fused]") {
  torch::manual_seed(5);
  // Query 1 may see no key; the others see some.
  auto allowed = torch::ones({1, 3, 5}, torch::kBool);
  allowed.index_put_({0, 1}, false);
  allowed.index_put_({0, 2, 0}, false);
  const auto mask = make_additive_mask(allowed, torch::Tensor());
  REQUIRE(mask.empty.defined());
  auto q = torch::randn({2, 2, 3, 4}).requires_grad_(true);
  auto k = torch::randn({2, 2, 5, 4}).requires_grad_(true);
  auto v = torch::randn({2, 2, 5, 4}).requires_grad_(true);
  const auto out = fused_dot_attention(q, k, v, 0.5, mask);
  CHECK(out.index({torch::indexing::Slice(), torch::indexing::Slice(), 1}).abs().max().item<float>() == 0.0F);

  auto scores = torch::matmul(q, k.transpose(-2, -1)) * 0.5;
  scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity());
  auto expected = torch::matmul(torch::softmax(scores, -1).nan_to_num(0.0), v);
  CHECK(torch::allclose(out, expected, 1e-5, 1e-6));
  out.sum().backward();
  CHECK(torch::isfinite(q.grad()).all().item<bool>());
  CHECK(torch::isfinite(k.grad()).all().item<bool>());
}

TEST_CASE("the fused path is for CPU float32 only", "[variants][fused]") {
  auto x = torch::randn({1, 2, 4, 4});
  CHECK(fused_attention_supports(x, x, x));
  const auto doubles = x.to(torch::kDouble);
  CHECK_FALSE(fused_attention_supports(doubles, doubles, doubles));
  auto options = small_options("scaled", "none", "full");
  AttentionVariant variant(options, AttentionSite{0, 2, 4, /*causal=*/true, /*cross=*/false});
  // Other dtypes run the plain path through forward_fused, with the same result.
  CHECK(torch::allclose(variant->forward_fused(doubles, doubles, doubles),
                        variant->forward_plain(doubles, doubles, doubles).out));
}

TEST_CASE("the fused path agrees with the plain path with soft-capping, sinks and shared kv heads",
          "[variants][fused]") {
  at::set_num_threads(2);  // heads split across threads
  // ALiBi: the cap must bite before the bias; cross-attention: more queries than keys.
  const auto cases = fast_path_cases({{"scaled", "none", "full", /*causal=*/true},
                                      {"scaled", "alibi", "full", /*causal=*/true},
                                      {"dot", "rope", "local", /*causal=*/false},
                                      {"scaled", "alibi", "strided", /*causal=*/true},
                                      {"scaled", "none", "full", false, /*cross=*/true}});
  for (const auto& combination : cases) {
    DYNAMIC_SECTION(combination.name()) {
      torch::manual_seed(6);
      auto variant = make_variant(combination, torch::kFloat);
      // Two row blocks, the last one partial.
      const std::int64_t keys = kFusedRowBlock + 8;
      const std::int64_t queries = combination.cross ? kFusedRowBlock + 24 : keys;
      auto inputs = random_inputs(combination, /*batch=*/2, queries, keys, torch::kFloat);
      REQUIRE(variant->uses_fused_path(inputs.q, inputs.k, inputs.v));
      check_against_plain(run_fused(variant, inputs), run_plain(variant, inputs), 1e-5, 1e-6,
                          1e-4, 1e-5);
    }
  }
}

TEST_CASE("under a sink, a query with no allowed key gives its whole mass to the sink on the fused "
          "path",
          "[variants][fused]") {
  torch::manual_seed(7);
  const auto combination = sink_case({"scaled", "alibi", "full", /*causal=*/true}, 2, kBitingCap);
  auto variant = make_variant(combination, torch::kFloat);
  // Query i sits at position i - 68: the first row block sees no key at all, the second one only
  // from its fifth row on.
  const std::int64_t queries = kFusedRowBlock + 16, keys = 12;
  auto inputs = random_inputs(combination, /*batch=*/2, queries, keys, torch::kFloat);
  REQUIRE(variant->uses_fused_path(inputs.q, inputs.k, inputs.v));
  check_empty_rows_under_sink(run_fused(variant, inputs), run_plain(variant, inputs),
                              queries - keys, 1e-5, 1e-6, 1e-4, 1e-5);
}

TEST_CASE("the sink logits' gradient on the fused path matches finite differences",
          "[variants][fused]") {
  torch::manual_seed(8);
  const auto combination = sink_case({"scaled", "none", "local", /*causal=*/true}, 1, kBitingCap);
  auto variant = make_variant(combination, torch::kFloat);
  auto inputs = random_inputs(combination, /*batch=*/2, 20, 20, torch::kFloat);
  // In float32: a wide step, a loose tolerance.
  check_sink_gradient(
      variant, inputs, [&] { return variant->forward_fused(inputs.q, inputs.k, inputs.v); },
      /*step=*/1e-2, /*epsilon=*/2e-3, /*margin=*/1e-4);
}
