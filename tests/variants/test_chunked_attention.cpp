// The chunked online-softmax path against the plain path with soft-capping, a sink and shared
// key/value heads: outputs and gradients in q, k, v and the sink logits, in double (where the two
// agree to rounding) over several tiles, for dot and additive scores, biases, sparse and top-k
// patterns, self- and cross-attention; queries with no allowed key under a sink; and the sink
// logits' gradient against finite differences.
#include <catch2/catch.hpp>

#include "tests/variants/fast_path_test_support.h"
#include "variants/attention_variant.h"

using namespace attnlab::variants;
using namespace attnlab::variants::testing;

namespace {

PathResult run_chunked(AttentionVariant& variant, AttentionInputs& inputs) {
  return run_path(variant, inputs,
                  [&] { return variant->forward_chunked(inputs.q, inputs.k, inputs.v); });
}

}  // namespace

TEST_CASE("the chunked path agrees with the plain path with soft-capping, sinks and shared kv "
          "heads",
          "[variants][chunked]") {
  const std::int64_t keys = 12;  // three tiles of variant.chunk = 4
  // ALiBi: the cap must bite before the bias; additive: the cap's chain rule through a score's
  // own tile gradients; top-k: the cut is taken on capped scores; cross: more queries than keys.
  const auto cases = fast_path_cases({{"scaled", "alibi", "full", /*causal=*/true},
                                      {"scaled", "none", "local", /*causal=*/true},
                                      {"additive", "none", "full", /*causal=*/false},
                                      {"scaled", "none", "topk", /*causal=*/true},
                                      {"scaled", "alibi", "bigbird", /*causal=*/false},
                                      {"scaled", "none", "full", false, /*cross=*/true}});
  for (const auto& combination : cases) {
    DYNAMIC_SECTION(combination.name()) {
      torch::manual_seed(9);
      auto variant = make_variant(combination, torch::kDouble);
      const std::int64_t queries = combination.cross ? keys + 2 : keys;
      auto inputs = random_inputs(combination, /*batch=*/2, queries, keys, torch::kDouble);
      REQUIRE(variant->uses_chunked_path(queries, keys));
      check_against_plain(run_chunked(variant, inputs), run_plain(variant, inputs), 1e-10, 1e-12,
                          1e-9, 1e-11);
    }
  }
}

TEST_CASE("under a sink, a query with no allowed key gives its whole mass to the sink on the "
          "chunked path",
          "[variants][chunked]") {
  torch::manual_seed(10);
  const auto combination = sink_case({"scaled", "alibi", "full", /*causal=*/true}, 2, kBitingCap);
  auto variant = make_variant(combination, torch::kDouble);
  // Query i sits at position i - 4: the first four see no key, and the first tile of queries has
  // none but the sink to start from.
  const std::int64_t queries = 10, keys = 6;
  auto inputs = random_inputs(combination, /*batch=*/2, queries, keys, torch::kDouble);
  REQUIRE(variant->uses_chunked_path(queries, keys));
  check_empty_rows_under_sink(run_chunked(variant, inputs), run_plain(variant, inputs),
                              queries - keys, 1e-10, 1e-12, 1e-9, 1e-11);
}

TEST_CASE("the sink logits' gradient on the chunked path matches finite differences",
          "[variants][chunked]") {
  torch::manual_seed(11);
  const auto combination = sink_case({"scaled", "none", "local", /*causal=*/true}, 1, kBitingCap);
  auto variant = make_variant(combination, torch::kDouble);
  auto inputs = random_inputs(combination, /*batch=*/2, 10, 10, torch::kDouble);
  check_sink_gradient(
      variant, inputs, [&] { return variant->forward_chunked(inputs.q, inputs.k, inputs.v); },
      /*step=*/1e-6, /*epsilon=*/1e-6, /*margin=*/1e-8);
}
