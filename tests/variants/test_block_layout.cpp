// The chunked path's tiles (block_layout.h): every registered pattern's layout covers exactly the
// pairs its allowed() opens, once each, for any tile size, and sparse layouts grow with T x window
// instead of T^2.
#include <catch2/catch.hpp>

#include "tests/variants/variant_test_support.h"
#include "variants/attention_variant.h"
#include "variants/block_layout.h"

using namespace attnlab::variants;
using attnlab::variants::testing::small_options;

namespace {

struct Shape {
  std::int64_t query_length, key_length;
};

// allowed() as [H,Tq,Tk] int (undefined means every pair).
torch::Tensor allowed_counts(AttentionVariant& variant, std::int64_t heads,
                             std::int64_t query_length, std::int64_t key_length) {
  auto allowed = variant->allowed(query_length, key_length);
  if (!allowed.defined()) return torch::ones({heads, query_length, key_length}, torch::kInt);
  return allowed.expand({heads, query_length, key_length}).to(torch::kInt);
}

double pairs_for(const std::string& pattern, std::int64_t length, bool causal,
                 const std::vector<std::pair<std::string, std::int64_t>>& settings) {
  auto options = small_options("scaled", "none", pattern);
  options.set("chunk", std::int64_t{64});
  for (const auto& [name, value] : settings) options.set(name, value);
  AttentionVariant variant(options, AttentionSite{0, /*heads=*/4, /*head_dim=*/8, causal, false});
  return scored_pairs(*variant->layout(length, length));
}

// A pattern that implements only allowed() (and its reference): it gets the generic layout.
class CheckerboardPattern : public Pattern {
 public:
  torch::Tensor allowed(std::int64_t query_length, std::int64_t key_length,
                        bool causal) const override {
    auto relative = relative_positions(query_length, key_length);
    auto allowed = torch::remainder(relative, 3).ne(1);
    if (causal) allowed = allowed.logical_and(relative.le(0));
    return allowed.unsqueeze(0);  // [1,Tq,Tk]
  }
  torch::Tensor reference_allowed(std::int64_t query_length, std::int64_t key_length,
                                  bool causal) const override {
    return allowed_pairs(/*heads=*/1, query_length, key_length, causal,
                         [](std::int64_t, std::int64_t position, std::int64_t key) {
                           return ((key - position) % 3 + 3) % 3 != 1;
                         });
  }
};

}  // namespace

TEST_CASE("every pattern's layout covers exactly its allowed pairs once", "[variants][layout]") {
  const std::int64_t heads = 3;
  for (const auto* pattern : pattern_registry().entries()) {
    for (const bool causal : {false, true}) {
      for (const Shape shape : {Shape{16, 16}, Shape{10, 16}, Shape{20, 16}}) {
        for (const std::int64_t chunk : {1, 3, 4, 64}) {
          DYNAMIC_SECTION(pattern->name << (causal ? " causal " : " bidirectional ")
                                        << shape.query_length << "x" << shape.key_length
                                        << " chunk " << chunk) {
            auto options = small_options("scaled", "none", pattern->name);
            options.set("chunk", chunk);
            AttentionVariant variant(options, AttentionSite{/*layer=*/2, heads, 8, causal,
                                                            shape.query_length != shape.key_length});
            const auto layout = variant->layout(shape.query_length, shape.key_length);
            const auto covered = coverage(*layout, shape.query_length, shape.key_length, heads);
            CHECK(torch::equal(covered, allowed_counts(variant, heads, shape.query_length,
                                                       shape.key_length)));
          }
        }
      }
    }
  }
}

TEST_CASE("the generic layout tiles allowed() and skips empty tiles", "[variants][layout]") {
  CheckerboardPattern pattern;
  for (const bool causal : {false, true}) {
    const auto layout = pattern.layout(/*query_length=*/11, /*key_length=*/11, causal,
                                       /*chunk=*/4);
    CHECK(torch::equal(pattern.allowed(11, 11, causal), pattern.reference_allowed(11, 11, causal)));
    CHECK(torch::equal(coverage(layout, 11, 11, 1),
                       pattern.allowed(11, 11, causal).to(torch::kInt)));
    std::int64_t tiles = 0;
    for (const auto& block : layout.blocks) tiles += static_cast<std::int64_t>(block.keys.size());
    CHECK(tiles == (causal ? 6 : 9));  // 3 x 3 tiles, of which 6 touch the causal triangle
  }
}

TEST_CASE("a causal dense layout masks only the diagonal tiles", "[variants][layout]") {
  const auto layout = dense_layout(/*query_length=*/12, /*key_length=*/12, /*causal=*/true,
                                   /*chunk=*/4);
  std::int64_t masked = 0, tiles = 0;
  for (const auto& block : layout.blocks) {
    for (const auto& segment : block.keys) {
      ++tiles;
      masked += segment.allowed.defined() ? 1 : 0;
    }
  }
  CHECK(tiles == 6);
  CHECK(masked == 3);
}

TEST_CASE("sparse layouts grow as T x window, full as T^2", "[variants][layout]") {
  for (const bool causal : {false, true}) {
    DYNAMIC_SECTION((causal ? "causal" : "bidirectional")) {
      const double full_growth = pairs_for("full", 2048, causal, {}) / pairs_for("full", 1024, causal, {});
      CHECK(full_growth == Approx(4.0).epsilon(0.05));
      const std::vector<std::pair<std::string, std::int64_t>> local = {{"window", 32}};
      CHECK(pairs_for("local", 2048, causal, local) / pairs_for("local", 1024, causal, local) ==
            Approx(2.0).epsilon(0.05));
      const std::vector<std::pair<std::string, std::int64_t>> bigbird = {
          {"block", 32}, {"global_blocks", 1}, {"random_blocks", 2}};
      // Linear but for the global row, which sees every key.
      CHECK(pairs_for("bigbird", 2048, causal, bigbird) / pairs_for("bigbird", 1024, causal, bigbird) <
            2.2);
      // Strided is T x stride + T^2 / stride: well below full at stride ~ sqrt(T).
      CHECK(pairs_for("strided", 2048, causal, {{"stride", 45}}) <
            pairs_for("full", 2048, causal, {}) / 4);
      // A window of 128 at T = 4096 scores at most 1/8 of full attention's pairs.
      CHECK(pairs_for("local", 4096, causal, {{"window", 128}}) * 8 <
            pairs_for("full", 4096, causal, {}));
    }
  }
}
