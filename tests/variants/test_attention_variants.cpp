// The same checks over every registered part and every registered combination of them. Each part
// of every stage (score, position, pattern, QK-norm, normaliser, mixer, output gate) against its
// own double-precision reference (parts.h; written in the part's file), gradients in its inputs and
// parameters too, and each normaliser's map against what its map kind promises. Then every
// combination of score, position and pattern, and each part of the newer stages with shared
// key/value heads and soft-capping on a few of them, causal and bidirectional, self- and
// cross-attention: outputs and maps against the composition of the parts' references, the path
// each variant takes, the fast paths against the plain one, what the map kind promises, zero mass
// where the pattern or causality forbids, and finite-difference gradients through every path.
// Then part-specific properties (RoPE, ALiBi, bigbird, additive, T5, differential, sink, sigmoid,
// shared key/value heads) and bad options.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <limits>
#include <set>

#include <torch/csrc/autograd/autograd.h>

#include "tests/variants/variant_test_support.h"
#include "variants/attention_variant.h"

using namespace attnlab::variants;
using attnlab::variants::testing::all_combinations;
using attnlab::variants::testing::Combination;
using attnlab::variants::testing::small_options;

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

struct Shape {
  std::int64_t query_length, key_length;
  bool cross;
  std::string name;
};
const std::vector<Shape> kShapes = {{16, 16, false, "self"}, {10, 16, true, "cross"}};

// Plain attention's parts with one stage changed: options to build that stage's part alone.
VariantOptions options_with(const std::string& stage, const std::string& part) {
  auto options = small_options("scaled", "none", "full");
  options.set(stage, part);
  return options;
}

// Moves every trainable parameter away from its initial value (ones, zeros), so that a reference
// that forgets a scale or a sink logit disagrees with the fast code.
void perturb_parameters(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& parameter : module.parameters()) {
    if (parameter.requires_grad()) parameter.add_(torch::randn_like(parameter) * 0.3);
  }
}

// Both undefined (a parameter the output does not use), or equal within the tolerance.
bool same_gradient(const torch::Tensor& got, const torch::Tensor& expected) {
  if (!got.defined() || !expected.defined()) return got.defined() == expected.defined();
  return torch::allclose(got, expected, /*rtol=*/1e-9, /*atol=*/1e-12);
}

using Outputs = std::vector<torch::Tensor>;
using NamedInputs = std::vector<std::pair<std::string, torch::Tensor>>;

struct ReferenceGradients {
  Outputs weights;   // one per output that depends on something trainable
  Outputs expected;  // through the reference: one per input, then per trainable parameter
};

// In double: fast() against reference() in value, and the gradients of sum_i(w_i * output_i) for
// random w_i in each input (leaves that require grad) and each trainable parameter of `part`,
// through both. An output that depends on nothing trainable (a fixed bias) is compared in value.
ReferenceGradients check_against_reference(torch::nn::Module& part, const NamedInputs& inputs,
                                           const std::function<Outputs()>& fast,
                                           const std::function<Outputs()>& reference) {
  const auto got = fast(), expected = reference();
  REQUIRE(got.size() == expected.size());
  Outputs differentiable_got, differentiable_expected;
  ReferenceGradients result;
  for (std::size_t index = 0; index < got.size(); ++index) {
    INFO("output " << index);
    CHECK(torch::allclose(got[index], expected[index], /*rtol=*/1e-10, /*atol=*/1e-12));
    CHECK(got[index].requires_grad() == expected[index].requires_grad());
    if (!got[index].requires_grad() || !expected[index].requires_grad()) continue;
    differentiable_got.push_back(got[index]);
    differentiable_expected.push_back(expected[index]);
    result.weights.push_back(torch::randn_like(expected[index]));
  }
  if (result.weights.empty()) return result;
  std::vector<std::string> names;
  Outputs wrt;
  for (const auto& [name, input] : inputs) {
    names.push_back(name);
    wrt.push_back(input);
  }
  for (const auto& named : part.named_parameters()) {
    if (!named.value().requires_grad()) continue;
    names.push_back(named.key());
    wrt.push_back(named.value());
  }
  const auto gradients = [&](const Outputs& outputs) {
    return torch::autograd::grad(outputs, wrt, result.weights, /*retain_graph=*/false,
                                 /*create_graph=*/false, /*allow_unused=*/true);
  };
  result.expected = gradients(differentiable_expected);
  const auto through_fast = gradients(differentiable_got);
  for (std::size_t index = 0; index < wrt.size(); ++index) {
    INFO("gradient in " << names[index]);
    CHECK(same_gradient(through_fast[index], result.expected[index]));
    if (through_fast[index].defined()) CHECK_FALSE(through_fast[index].isnan().any().item<bool>());
  }
  return result;
}

Outputs flatten(const std::vector<std::pair<torch::Tensor, torch::Tensor>>& pairs) {
  Outputs all;
  for (const auto& [first, second] : pairs) {
    all.push_back(first);
    all.push_back(second);
  }
  return all;
}

// In double: scores() against reference_scores(), gradients in q, k and every parameter, and
// tile_gradients() (the chunked path's backward) against the same reference gradients.
void check_score_against_reference(Score& score, const torch::Tensor& q_values,
                                   const torch::Tensor& k_values) {
  score.to(torch::kDouble);
  auto q = q_values.to(torch::kDouble).requires_grad_(true);  // [B,H,Tq,D]
  auto k = k_values.to(torch::kDouble).requires_grad_(true);  // [B,H,Tk,D]
  const auto reference = check_against_reference(
      score, {{"q", q}, {"k", k}}, [&]() -> Outputs { return {score.scores(q, k)}; },
      [&]() -> Outputs { return {score.reference_scores(q, k)}; });
  REQUIRE(reference.weights.size() == 1);
  auto tiles = score.tile_gradients(q, k, reference.weights.front());
  Outputs through_tiles = {tiles.q, tiles.k};
  through_tiles.insert(through_tiles.end(), tiles.parameters.begin(), tiles.parameters.end());
  REQUIRE(through_tiles.size() == reference.expected.size());
  for (std::size_t index = 0; index < through_tiles.size(); ++index) {
    INFO("tile gradient " << index);
    CHECK(same_gradient(through_tiles[index], reference.expected[index]));
  }
}

// [B,H,Tq,Tk] bool: random pairs allowed, and the first query of the first head allowed none.
torch::Tensor random_allowed(std::int64_t batch, std::int64_t heads, std::int64_t query_length,
                             std::int64_t key_length) {
  auto allowed = torch::rand({batch, heads, query_length, key_length}).lt(0.7);
  allowed.select(1, 0).select(1, 0).fill_(false);
  return allowed;
}

// What a map's kind promises (map_kind.h), for a map [B,H,Tq,Tk] and the pairs allowed mass
// [B,H,Tq,Tk]: no NaN, exactly 0 where not allowed (a row with no allowed key is all 0), and
// distribution rows with an allowed key sum to 1, partial rows hold a mass in [0, 1],
// unnormalised maps are >= 0.
void check_map_kind(const torch::Tensor& map, MapKind kind, const torch::Tensor& allowed) {
  INFO("map kind " << map_kind_name(kind));
  CHECK_FALSE(map.isnan().any().item<bool>());
  CHECK(map.masked_select(allowed.logical_not()).abs().sum().item<double>() == 0.0);
  const auto mass = map.sum(-1);  // [B,H,Tq]
  switch (kind) {
    case MapKind::Distribution:
      CHECK(torch::allclose(mass, allowed.any(-1).to(mass.dtype()), /*rtol=*/1e-5, /*atol=*/1e-6));
      CHECK(map.min().item<double>() >= 0.0);
      break;
    case MapKind::Partial:
      CHECK(map.min().item<double>() >= 0.0);
      CHECK(mass.max().item<double>() <= 1.0 + 1e-6);
      break;
    case MapKind::Unnormalised: CHECK(map.min().item<double>() >= 0.0); break;
    case MapKind::Signed: break;
  }
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
        perturb_parameters(*score);
        check_score_against_reference(*score,
                                      torch::randn({batch, heads, shape.query_length, head_dim}),
                                      torch::randn({batch, heads, shape.key_length, head_dim}));
      }
    }
  }
}

TEST_CASE("every registered position scheme matches its reference, gradients too",
          "[variants][parts]") {
  const std::int64_t batch = 2, heads = 3, head_dim = 8;
  for (const auto* entry : position_registry().entries()) {
    for (const auto& shape : kShapes) {
      DYNAMIC_SECTION("position " << entry->name << " " << shape.name) {
        torch::manual_seed(13);
        const AttentionSite site{/*layer=*/1, heads, head_dim, /*causal=*/false, shape.cross};
        auto position = entry->make(small_options("scaled", entry->name, "full"), site);
        position->to(torch::kDouble);
        perturb_parameters(*position);
        const auto query_length = shape.query_length, key_length = shape.key_length;
        auto q = torch::randn({batch, heads, query_length, head_dim}, torch::kDouble);
        auto k = torch::randn({batch, heads, key_length, head_dim}, torch::kDouble);
        q.requires_grad_(true);
        k.requires_grad_(true);
        const std::vector<std::int64_t> all_pairs = {heads, query_length, key_length};
        const auto fast = [&]() -> Outputs {
          auto bias = position->bias(query_length, key_length, torch::kDouble);
          if (!bias.defined()) bias = torch::zeros(all_pairs, torch::kDouble);  // it adds none
          return {position->rotate(q, k).first, position->rotate(q, k).second,
                  bias.expand(all_pairs)};
        };
        const auto reference = [&]() -> Outputs {
          const auto [rotated_q, rotated_k] = position->reference_rotate(q, k);
          return {rotated_q, rotated_k,
                  position->reference_bias(query_length, key_length).expand(all_pairs)};
        };
        check_against_reference(*position, {{"q", q}, {"k", k}}, fast, reference);
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


TEST_CASE("every registered QK-norm matches its reference, gradients too", "[variants][parts]") {
  const std::int64_t batch = 2, heads = 3, head_dim = 8;
  for (const auto* entry : qk_norm_registry().entries()) {
    for (const auto& shape : kShapes) {
      DYNAMIC_SECTION("qk_norm " << entry->name << " " << shape.name) {
        torch::manual_seed(13);
        const AttentionSite site{/*layer=*/1, heads, head_dim, /*causal=*/false, shape.cross};
        auto norm = entry->make(options_with("qk_norm", entry->name), site);
        norm->to(torch::kDouble);
        perturb_parameters(*norm);
        // Keys with one head for three query heads (shared key/value heads).
        auto q = torch::randn({batch, heads, shape.query_length, head_dim}, torch::kDouble);
        auto k = torch::randn({batch, 1, shape.key_length, head_dim}, torch::kDouble) * 3.0;
        q.requires_grad_(true);
        k.requires_grad_(true);
        check_against_reference(
            *norm, {{"q", q}, {"k", k}}, [&] { return flatten({norm->normalise(q, k)}); },
            [&] { return flatten({norm->reference_normalise(q, k)}); });
      }
    }
  }
}

TEST_CASE("every registered normaliser matches its reference and keeps its map kind's promises",
          "[variants][parts]") {
  const std::int64_t batch = 2, heads = 3;
  for (const auto* entry : normaliser_registry().entries()) {
    for (const auto& shape : kShapes) {
      DYNAMIC_SECTION("normaliser " << entry->name << " " << shape.name) {
        torch::manual_seed(13);
        const AttentionSite site{/*layer=*/1, heads, /*head_dim=*/8, /*causal=*/false, shape.cross};
        auto normaliser = entry->make(options_with("normaliser", entry->name), site);
        normaliser->to(torch::kDouble);
        perturb_parameters(*normaliser);
        const auto allowed = random_allowed(batch, heads, shape.query_length, shape.key_length);
        auto scores = torch::randn({batch, heads, shape.query_length, shape.key_length},
                                   torch::kDouble) * 3.0;
        // Linear attention's scores are kernel products, never negative.
        if (normaliser->is_linear()) scores = scores.abs();
        scores.requires_grad_(true);
        // As the pipeline hands them over: -inf where a pair may not attend.
        const auto masked = [&] { return scores.masked_fill(allowed.logical_not(), -kInfinity); };
        check_against_reference(
            *normaliser, {{"scores", scores}},
            [&]() -> Outputs { return {normaliser->normalise(masked())}; },
            [&]() -> Outputs { return {normaliser->reference_normalise(masked())}; });
        torch::NoGradGuard no_grad;
        check_map_kind(normaliser->normalise(masked()), normaliser->map_kind(), allowed);
        // The fast paths compute softmax plus sink logits only; they must say so truthfully.
        if (normaliser->sink_logits().defined()) CHECK(normaliser->is_softmax());
        auto out = torch::randn({batch, heads, shape.query_length, 8}, torch::kDouble) * 3.0;
        CHECK(torch::allclose(normaliser->normalise_output(out),
                              normaliser->reference_normalise_output(out), 1e-10, 1e-12));
      }
    }
  }
}

TEST_CASE("every registered feature map matches its reference, gradients too, and is non-negative",
          "[variants][parts]") {
  const std::int64_t batch = 2, heads = 3, head_dim = 8;
  for (const auto* entry : feature_map_registry().entries()) {
    for (const auto side : {FeatureMap::Side::Query, FeatureMap::Side::Key}) {
      DYNAMIC_SECTION("feature map " << entry->name
                                     << (side == FeatureMap::Side::Query ? " query" : " key")) {
        torch::manual_seed(13);
        auto options = options_with("feature_map", entry->name);
        options.set("taylor_dim", std::int64_t{3});
        options.set("favor_features", std::int64_t{11});  // a partial block of 8 directions
        auto map = entry->make(options, AttentionSite{/*layer=*/1, heads, head_dim});
        map->to(torch::kDouble);
        perturb_parameters(*map);
        const std::int64_t length = 12;
        auto x = (torch::randn({batch, heads, length, head_dim}, torch::kDouble) * 2.0)
                     .requires_grad_(true);
        const auto positions = torch::arange(4, 4 + length, torch::kLong);  // queries after keys
        const std::int64_t keys = 16;
        check_against_reference(
            *map, {{"x", x}},
            [&]() -> Outputs { return {map->features(x, side, positions, keys)}; },
            [&]() -> Outputs { return {map->reference_features(x, side, positions, keys)}; });
        torch::NoGradGuard no_grad;
        const auto features = map->features(x, side, positions, keys);  // [B,H,T,F]
        CHECK(features.size(-1) == map->feature_dim(head_dim));
        CHECK_FALSE(features.isnan().any().item<bool>());
        // Linear attention's row sums need φ(q)·φ(k) >= 0 for every pair (taylor's features
        // have both signs; their products do not).
        const auto key_features =
            map->features(torch::randn({batch, heads, keys, head_dim}, torch::kDouble) * 2.0,
                          FeatureMap::Side::Key, torch::arange(keys, torch::kLong), keys);
        const auto query_features = map->features(x, FeatureMap::Side::Query, positions, keys);
        const auto products = torch::matmul(query_features, key_features.transpose(-2, -1));
        CHECK(products.min().item<double>() >= 0.0);
      }
    }
  }
}

TEST_CASE("every registered mixer matches its reference, gradients too", "[variants][parts]") {
  const std::int64_t batch = 2, heads = 3, head_dim = 8, query_length = 10, key_length = 16;
  for (const auto* entry : mixer_registry().entries()) {
    DYNAMIC_SECTION("mixer " << entry->name) {
      torch::manual_seed(13);
      const AttentionSite site{/*layer=*/1, heads, head_dim, /*causal=*/false, /*cross=*/true,
                               /*depth=*/2};
      auto mixer = entry->make(options_with("mixer", entry->name), site);
      mixer->to(torch::kDouble);
      perturb_parameters(*mixer);
      auto q = torch::randn({batch, heads, query_length, head_dim}, torch::kDouble);
      auto k = torch::randn({batch, 1, key_length, head_dim}, torch::kDouble);
      q.requires_grad_(true);
      k.requires_grad_(true);
      check_against_reference(
          *mixer, {{"q", q}, {"k", k}}, [&] { return flatten(mixer->split(q, k)); },
          [&] { return flatten(mixer->reference_split(q, k)); });
      const auto pairs = mixer->split(q, k);
      REQUIRE_FALSE(pairs.empty());
      for (const auto& [q_c, k_c] : pairs) {  // each map's q and k as its score will see them
        CHECK(q_c.sizes() == std::vector<std::int64_t>({batch, heads, query_length,
                                                        mixer->score_dim(head_dim)}));
        CHECK(k_c.sizes() == std::vector<std::int64_t>({batch, 1, key_length,
                                                        mixer->score_dim(head_dim)}));
      }
      CHECK(mixer->single_map() == (pairs.size() == 1));

      // One softmax map per pair, as leaves.
      const auto allowed = random_allowed(batch, heads, query_length, key_length);
      NamedInputs maps;
      Outputs map_values;
      for (std::size_t index = 0; index < pairs.size(); ++index) {
        auto map = torch::softmax(torch::randn({batch, heads, query_length, key_length},
                                               torch::kDouble)
                                      .masked_fill(allowed.logical_not(), -kInfinity),
                                  -1)
                       .nan_to_num(0.0)
                       .requires_grad_(true);
        maps.push_back({"map " + std::to_string(index), map});
        map_values.push_back(map);
      }
      check_against_reference(
          *mixer, maps, [&]() -> Outputs { return {mixer->combine(map_values)}; },
          [&]() -> Outputs { return {mixer->reference_combine(map_values)}; });
      check_map_kind(mixer->combine(map_values).detach(),
                     mixer->map_kind(MapKind::Distribution), allowed);

      auto out = torch::randn({batch, heads, query_length, head_dim}, torch::kDouble);
      out.requires_grad_(true);
      check_against_reference(
          *mixer, {{"out", out}}, [&]() -> Outputs { return {mixer->finish(out)}; },
          [&]() -> Outputs { return {mixer->reference_finish(out)}; });
    }
  }
}

TEST_CASE("every registered output gate matches its reference, gradients too",
          "[variants][parts]") {
  // d_model unlike heads * head_dim, so that a gate reading the wrong width fails.
  const std::int64_t batch = 2, heads = 3, head_dim = 4, d_model = 10;
  for (const auto* entry : gate_registry().entries()) {
    for (const auto& shape : kShapes) {
      DYNAMIC_SECTION("gate " << entry->name << " " << shape.name) {
        torch::manual_seed(13);
        const AttentionSite site{/*layer=*/1, heads,      head_dim,           /*causal=*/false,
                                 shape.cross, /*depth=*/0, d_model};
        auto gate = entry->make(options_with("gate", entry->name), site);
        gate->to(torch::kDouble);
        perturb_parameters(*gate);
        auto x = torch::randn({batch, shape.query_length, d_model}, torch::kDouble);
        auto out = torch::randn({batch, heads, shape.query_length, head_dim}, torch::kDouble);
        x.requires_grad_(true);
        out.requires_grad_(true);
        const auto reference = check_against_reference(
            *gate, {{"x", x}, {"out", out}}, [&]() -> Outputs { return {gate->apply(x, out)}; },
            [&]() -> Outputs { return {gate->reference_apply(x, out)}; });
        // The model passes x only to a gate that says it reads it.
        REQUIRE_FALSE(reference.expected.empty());
        CHECK(reference.expected.front().defined() == gate->uses_input());
        if (!gate->uses_input()) CHECK(torch::equal(gate->apply(torch::Tensor(), out), out));
      }
    }
  }
}

namespace {

// k or v [B,G,T,D] -> [B,H,T,D] head by head: query head h reads key/value head h / (H / G).
torch::Tensor reference_expand(const torch::Tensor& x, std::int64_t heads) {
  const auto group = heads / x.size(1);
  std::vector<torch::Tensor> per_head;
  for (std::int64_t head = 0; head < heads; ++head) per_head.push_back(x.select(1, head / group));
  return torch::stack(per_head, /*dim=*/1);
}

// Soft-capping (Gemma 2): c·tanh(s / c), or s when c is inf.
torch::Tensor reference_cap(const torch::Tensor& scores, double cap) {
  return std::isinf(cap) ? scores : cap * torch::tanh(scores / cap);
}

// One map's masked scores from its q_c [B,H,Tq,d] and k_c [B,G,Tk,d]: QK-norm, rotations, score
// against the shared keys, soft-cap, bias, mask and a score-dependent restriction.
torch::Tensor reference_scores(const AttentionVariantImpl& variant, torch::Tensor q_c,
                               torch::Tensor k_c) {
  const auto query_length = q_c.size(2), key_length = k_c.size(2);
  std::tie(q_c, k_c) = variant.qk_norm().reference_normalise(q_c, k_c);
  std::tie(q_c, k_c) = variant.position().reference_rotate(q_c, k_c);
  auto scores =
      reference_cap(variant.score().reference_scores(q_c, reference_expand(k_c, q_c.size(1))),
                    variant.softcap()) +
      variant.position().reference_bias(query_length, key_length);  // [B,H,Tq,Tk]
  const auto allowed = variant.pattern()
                           .reference_allowed(query_length, key_length, variant.site().causal)
                           .expand_as(scores);  // [B,H,Tq,Tk]
  return variant.pattern().reference_restrict_scores(
      scores.masked_fill(allowed.logical_not(), -kInfinity));
}

struct Reference {
  torch::Tensor out, map, attended;  // attended: [B,H,Tq,Tk] bool, pairs with mass allowed
};

// The formula at the top of parts.h over the variant's parts' references, in double: q [B,H,Tq,D],
// k and v [B,G,Tk,D], x [B,Tq,C].
Reference reference_attention(const AttentionVariantImpl& variant, const torch::Tensor& q,
                              const torch::Tensor& k, const torch::Tensor& v,
                              const torch::Tensor& x) {
  const auto& mixer = variant.mixer();
  Outputs maps;
  torch::Tensor attended;
  for (const auto& [q_c, k_c] : mixer.reference_split(q, k)) {
    const auto scores = reference_scores(variant, q_c, k_c);  // [B,H,Tq,Tk]
    attended = attended.defined() ? attended.logical_or(scores.isfinite()) : scores.isfinite();
    maps.push_back(variant.normaliser().reference_normalise(scores));
  }
  const auto map = mixer.reference_combine(maps);  // [B,H,Tq,Tk]
  const auto attended_values = torch::matmul(map, reference_expand(v, q.size(1)));
  const auto out =
      mixer.reference_finish(variant.normaliser().reference_normalise_output(attended_values));
  return {variant.gate().reference_apply(x, out), map, attended};
}

// Whether the chunked path computes this variant, from what its parts declare (parts.h): one
// softmax-family map, over a pattern it can stream, with no trainable position bias (the chunked
// path treats biases as constants). The others must take the plain path.
bool chunked_computes(const AttentionVariantImpl& variant) {
  const auto& pattern = variant.pattern();
  if (pattern.depends_on_scores() && pattern.keep_largest() == 0) return false;
  for (const auto& parameter : variant.position().parameters()) {
    if (parameter.requires_grad()) return false;
  }
  return variant.normaliser().is_softmax() && variant.mixer().single_map();
}

// Whether the linear path computes this variant: a kernel score with the linear normaliser over
// the full pattern, one map, and as many queries as keys when causal.
bool linear_computes(const AttentionVariantImpl& variant, std::int64_t query_length,
                     std::int64_t key_length) {
  return variant.score().is_kernel() && variant.normaliser().is_linear() &&
         variant.pattern().is_full() && variant.mixer().single_map() &&
         (!variant.site().causal || query_length == key_length);
}

// q [B,H,Tq,D], k and v [B,G,Tk,D], x [B,Tq,C] for a variant at a site.
struct Inputs {
  torch::Tensor q, k, v, x;
  Inputs to(torch::Dtype dtype) const {
    return {q.to(dtype), k.to(dtype), v.to(dtype), x.to(dtype)};
  }
};

Inputs random_inputs(const AttentionVariantImpl& variant, std::int64_t batch,
                     std::int64_t query_length, std::int64_t key_length) {
  const auto& site = variant.site();
  return {torch::randn({batch, site.heads, query_length, site.head_dim}),
          torch::randn({batch, variant.kv_heads(), key_length, site.head_dim}),
          torch::randn({batch, variant.kv_heads(), key_length, site.head_dim}),
          torch::randn({batch, query_length, site.d_model})};
}

}  // namespace

TEST_CASE("every registered variant matches the reference formula", "[variants]") {
  // Four query heads, so that two key/value heads each serve a group of two.
  const std::int64_t batch = 2, heads = 4, head_dim = 8, d_model = 6;
  for (const auto& combination : all_combinations()) {
    for (const auto& shape : kShapes) {
      DYNAMIC_SECTION(combination.name() << " " << shape.name) {
        torch::manual_seed(7);
        const AttentionSite site{/*layer=*/1, heads,        head_dim, combination.causal,
                                 shape.cross, /*depth=*/1, d_model};
        AttentionVariant variant(combination.options(), site);
        perturb_parameters(*variant);
        const auto inputs = random_inputs(*variant, batch, shape.query_length, shape.key_length);
        const auto& [q, k, v, x] = inputs;
        const auto in_double = inputs.to(torch::kDouble);
        const auto expected = reference_attention(*variant, in_double.q, in_double.k, in_double.v,
                                                  in_double.x);

        // The plain path in fp32 against the formula, and the map's promises.
        const auto got = variant->forward(q, k, v, /*need_probs=*/true, x);
        CHECK(torch::allclose(got.probs.to(torch::kDouble), expected.map, /*rtol=*/1e-5,
                              /*atol=*/1e-6));
        CHECK(torch::allclose(got.out.to(torch::kDouble), expected.out, /*rtol=*/1e-5,
                              /*atol=*/1e-5));
        // Exactly zero mass wherever the pattern, causality or the top-k cut forbids.
        check_map_kind(got.probs, variant->map_kind(), expected.attended);
        if (combination.causal) {
          const auto later =
              torch::triu(torch::ones({shape.query_length, shape.key_length}, torch::kBool),
                          /*diagonal=*/shape.key_length - shape.query_length + 1);
          CHECK(got.probs.masked_select(later.expand_as(got.probs)).abs().max().item<double>() ==
                0.0);
        }

        // Without probabilities: the chunked path where the parts allow it (Tk > variant.chunk,
        // materialise_max 0), else the fused or the plain path; all agree.
        const bool chunked = chunked_computes(*variant);
        CHECK(variant->uses_chunked_path(shape.query_length, shape.key_length) == chunked);
        const auto fast = variant->forward(q, k, v, /*need_probs=*/false, x);
        CHECK_FALSE(fast.probs.defined());
        CHECK(torch::allclose(fast.out.to(torch::kDouble), expected.out, /*rtol=*/1e-5,
                              /*atol=*/1e-5));
        if (!chunked) CHECK_THROWS_AS(variant->forward_chunked(q, k, v, x), VariantError);

        // In double the plain path is the formula, and the chunked path agrees, to rounding.
        variant->to(torch::kDouble);
        const auto plain = variant->forward_plain(in_double.q, in_double.k, in_double.v,
                                                  in_double.x);
        CHECK(torch::allclose(plain.probs, expected.map, /*rtol=*/1e-10, /*atol=*/1e-12));
        CHECK(torch::allclose(plain.out, expected.out, /*rtol=*/1e-10, /*atol=*/1e-12));
        if (chunked) {
          CHECK(torch::allclose(
              variant->forward_chunked(in_double.q, in_double.k, in_double.v, in_double.x),
              plain.out, /*rtol=*/1e-10, /*atol=*/1e-12));
        }
        // The linear path where its parts allow it, and only there.
        const bool linear = linear_computes(*variant, shape.query_length, shape.key_length);
        CHECK((variant->path_for(shape.query_length, shape.key_length, q.options()) ==
               AttentionPath::Linear) == linear);
        if (linear) {
          CHECK(torch::allclose(
              variant->forward_linear(in_double.q, in_double.k, in_double.v, in_double.x),
              plain.out, /*rtol=*/1e-10, /*atol=*/1e-12));
        } else {
          CHECK_THROWS_AS(variant->forward_linear(q, k, v, x), VariantError);
        }
      }
    }
  }
}

namespace {

// Directional finite difference of L = sum(out * weights) along a random direction, against the
// analytic gradient, for one input (q, k, v, x or a parameter) modified in place.
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

// Every input and trainable parameter of L = sum(out * weights) against finite differences.
void check_gradients(AttentionVariantImpl& variant, const Inputs& inputs,
                     const std::function<torch::Tensor()>& loss) {
  loss().backward();
  check_directional_derivative(loss, inputs.q, inputs.q.grad().clone(), "q");
  check_directional_derivative(loss, inputs.k, inputs.k.grad().clone(), "k");
  check_directional_derivative(loss, inputs.v, inputs.v.grad().clone(), "v");
  if (variant.uses_gate_input()) {
    check_directional_derivative(loss, inputs.x, inputs.x.grad().clone(), "x");
  }
  for (auto& named : variant.named_parameters()) {
    if (!named.value().requires_grad()) continue;  // a fixed sink logit, say
    check_directional_derivative(loss, named.value(), named.value().grad().clone(), named.key());
  }
}

}  // namespace

TEST_CASE("finite-difference gradients through the plain and the chunked path",
          "[variants][gradients]") {
  const std::int64_t heads = 4, length = 8, head_dim = 4, d_model = 5;
  for (const auto& combination : all_combinations()) {
    for (const std::string path : {"plain", "chunked", "linear"}) {
      DYNAMIC_SECTION(combination.name() << " " << path) {
        torch::manual_seed(11);
        auto options = combination.options();
        options.set("chunk", std::int64_t{3});
        options.set("block", std::int64_t{2});
        options.set("window", std::int64_t{2});
        options.set("stride", std::int64_t{2});
        options.set("topk", std::int64_t{3});
        AttentionVariant variant(options, AttentionSite{/*layer=*/0, heads, head_dim,
                                                         combination.causal, /*cross=*/false,
                                                         /*depth=*/0, d_model});
        variant->to(torch::kDouble);
        perturb_parameters(*variant);
        auto inputs = random_inputs(*variant, 1, length, length).to(torch::kDouble);
        for (auto* input : {&inputs.q, &inputs.k, &inputs.v, &inputs.x}) {
          input->requires_grad_(true);
        }
        const auto weights = torch::randn({1, heads, length, head_dim}, torch::kDouble);
        const auto& [q, k, v, x] = inputs;
        if (path == "plain") {
          check_gradients(*variant, inputs, [&] {
            return (variant->forward_plain(q, k, v, x).out * weights).sum();
          });
        } else if (path == "linear") {
          if (linear_computes(*variant, length, length)) {
            check_gradients(*variant, inputs, [&] {
              return (variant->forward_linear(q, k, v, x) * weights).sum();
            });
          } else {
            CHECK_THROWS_AS(variant->forward_linear(q, k, v, x), VariantError);
          }
        } else if (chunked_computes(*variant)) {
          check_gradients(*variant, inputs, [&] {
            return (variant->forward_chunked(q, k, v, x) * weights).sum();
          });
        } else {
          CHECK_THROWS_AS(variant->forward_chunked(q, k, v, x), VariantError);
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


namespace {

std::shared_ptr<Position> t5_with_bucket_table(std::int64_t heads, bool causal) {
  auto options = small_options("scaled", "t5", "full");
  options.set("t5_buckets", std::int64_t{32});  // T5's defaults
  options.set("t5_max_distance", std::int64_t{128});
  auto t5 = position_registry().at("t5").make(options, AttentionSite{0, heads, 8, causal, false});
  // Entry (bucket b, head h) = b + 100 h, so that the bias reads back each pair's bucket.
  torch::NoGradGuard no_grad;
  const auto buckets = torch::arange(32, torch::kFloat).unsqueeze(1);  // [32,1]
  t5->named_parameters()["table"].copy_(buckets + 100.0 * torch::arange(heads, torch::kFloat));
  return t5;
}

}  // namespace

TEST_CASE("T5 buckets are those of T5's _relative_position_bucket, beyond max_distance too",
          "[variants][t5]") {
  // Relative distance j - i -> bucket with 32 buckets and max_distance 128, worked by hand from
  // T5's _relative_position_bucket (Raffel et al. 2020), n = i - j. Bidirectional: 16 buckets a
  // side, keys after the query (n < 0) from 16; exact below 8, then 8 + floor(log(|n| / 8) /
  // log(128 / 8) * 8), at most 15: |n| = 20 -> 8 + floor(2.64) = 10, 63 -> 8 + floor(5.96) = 13,
  // 64 -> 14, 100 -> 8 + floor(7.29) = 15. Causal: n = max(n, 0), exact below 16, then
  // 16 + floor(log(n / 16) / log(128 / 16) * 16), at most 31: 20 -> 17, 64 -> 26, 100 -> 30.
  struct Expected {
    std::int64_t relative, bidirectional, causal;
  };
  const std::vector<Expected> expected = {
      {-300, 15, 31}, {-128, 15, 31}, {-127, 15, 31}, {-100, 15, 30}, {-64, 14, 26},
      {-63, 13, 26},  {-32, 12, 21},  {-31, 11, 21},  {-20, 10, 17},  {-16, 10, 16},
      {-15, 9, 15},   {-8, 8, 8},     {-7, 7, 7},     {-1, 1, 1},     {0, 0, 0},
      {1, 17, 0},     {7, 23, 0},     {8, 24, 0},     {16, 26, 0},    {20, 26, 0},
      {32, 28, 0},    {64, 30, 0},    {100, 31, 0},   {127, 31, 0},   {128, 31, 0},
      {300, 31, 0}};
  const std::int64_t heads = 2, length = 301;
  for (const bool causal : {false, true}) {
    DYNAMIC_SECTION((causal ? "causal" : "bidirectional")) {
      const auto bias = t5_with_bucket_table(heads, causal)->bias(length, length, torch::kDouble);
      REQUIRE(bias.sizes() == std::vector<std::int64_t>({heads, length, length}));
      for (const auto& pair : expected) {
        // Query 0 reaches keys after it, the last query keys before it.
        const std::int64_t query = pair.relative >= 0 ? 0 : length - 1;
        for (std::int64_t head = 0; head < heads; ++head) {
          INFO("j - i = " << pair.relative << ", head " << head);
          CHECK(bias[head][query][query + pair.relative].item<double>() ==
                (causal ? pair.causal : pair.bidirectional) + 100.0 * head);
        }
      }
    }
  }
}

TEST_CASE("a T5 bias is trained: forward() takes the plain path and its gradient reaches the table",
          "[variants][t5]") {
  for (const std::int64_t materialise_max : {0, 256}) {  // chunked lengths, fused lengths
    DYNAMIC_SECTION("materialise_max " << materialise_max) {
      torch::manual_seed(9);
      auto options = small_options("scaled", "t5", "full");
      options.set("materialise_max", materialise_max);
      AttentionVariant variant(options, AttentionSite{0, 2, 8, /*causal=*/true, /*cross=*/false});
      const auto inputs = random_inputs(*variant, 1, 16, 16);
      CHECK_FALSE(variant->uses_chunked_path(16, 16));
      CHECK(variant->path_for(16, 16, inputs.q.options()) == AttentionPath::Plain);
      CHECK_THROWS_AS(variant->forward_chunked(inputs.q, inputs.k, inputs.v), VariantError);
      const auto weights = torch::randn({1, 2, 16, 8});
      (variant->forward(inputs.q, inputs.k, inputs.v).out * weights).sum().backward();
      const auto table = variant->named_parameters()["position.table"];
      REQUIRE(table.grad().defined());
      const auto through_forward = table.grad().clone();
      CHECK(through_forward.abs().max().item<double>() > 0.0);
      table.mutable_grad() = torch::Tensor();
      (variant->forward_plain(inputs.q, inputs.k, inputs.v).out * weights).sum().backward();
      CHECK(torch::allclose(through_forward, table.grad()));
    }
  }
}

namespace {

// λ of a differential mixer with its learned vectors at 0, where λ = λ_init, read from the map it
// combines: A_1 - λ A_2 with both maps all ones.
double initial_lambda(std::int64_t depth) {
  auto mixer = mixer_registry().at("differential").make(
      options_with("mixer", "differential"),
      AttentionSite{0, 2, 8, /*causal=*/true, /*cross=*/false, depth});
  torch::NoGradGuard no_grad;
  for (auto& named : mixer->named_parameters()) {
    if (named.key().rfind("lambda_", 0) == 0) named.value().zero_();
  }
  const auto ones = torch::ones({1, 2, 3, 3});
  return 1.0 - mixer->combine({ones, ones}).mean().item<double>();
}

}  // namespace

TEST_CASE("differential attention: λ_init by depth, a signed map, the plain path", "[variants]") {
  // Ye et al. 2024: λ_init = 0.8 - 0.6 exp(-0.3 (l - 1)) for layer l = depth + 1.
  CHECK(initial_lambda(0) == Approx(0.2).epsilon(1e-6));
  CHECK(initial_lambda(1) == Approx(0.8 - 0.6 * std::exp(-0.3)).epsilon(1e-6));
  CHECK(initial_lambda(5) == Approx(0.8 - 0.6 * std::exp(-1.5)).epsilon(1e-6));

  torch::manual_seed(4);
  auto options = options_with("mixer", "differential");
  options.set("pattern", std::string("local"));
  AttentionVariant variant(options, AttentionSite{0, 2, 8, /*causal=*/true, /*cross=*/false});
  CHECK(variant->map_kind() == MapKind::Signed);
  const auto inputs = random_inputs(*variant, 2, 16, 16);
  const auto map = variant->forward(inputs.q * 2.0, inputs.k, inputs.v, /*need_probs=*/true).probs;
  CHECK(map.min().item<double>() < 0.0);  // common-mode attention cancels
  CHECK_FALSE(variant->uses_chunked_path(16, 16));
  CHECK(variant->path_for(16, 16, inputs.q.options()) == AttentionPath::Plain);
  CHECK_THROWS_AS(variant->forward_chunked(inputs.q, inputs.k, inputs.v), VariantError);
}

TEST_CASE("differential attention refuses an odd head dimension, naming variant.mixer",
          "[variants]") {
  const auto options = options_with("mixer", "differential");
  CHECK_THROWS_WITH(validate_heads(options, /*heads=*/2, /*head_dim=*/5),
                    Catch::Contains("variant.mixer"));
  CHECK_THROWS_WITH(AttentionVariant(options, AttentionSite{0, 2, 5, true, false}),
                    Catch::Contains("variant.mixer"));
  CHECK_NOTHROW(validate_heads(options, 2, 6));
}

TEST_CASE("softmax with a sink: a query with no key attends to nothing; a fixed sink stays 0",
          "[variants]") {
  // Causal with more queries than keys: queries 0 and 1 sit before every key.
  const std::int64_t heads = 2, query_length = 6, key_length = 4, head_dim = 4;
  for (const bool learned : {true, false}) {
    DYNAMIC_SECTION("sink_learned " << learned) {
      torch::manual_seed(6);
      auto options = options_with("normaliser", "sink");
      options.set("sink_learned", learned);
      AttentionVariant variant(options, AttentionSite{0, heads, head_dim, true, false});
      auto q = torch::randn({1, heads, query_length, head_dim}).requires_grad_(true);
      auto k = torch::randn({1, heads, key_length, head_dim}).requires_grad_(true);
      auto v = torch::randn({1, heads, key_length, head_dim}).requires_grad_(true);
      const auto got = variant->forward(q, k, v, /*need_probs=*/true);
      CHECK(variant->map_kind() == MapKind::Partial);
      CHECK(got.probs.narrow(2, 0, 2).abs().max().item<double>() == 0.0);
      CHECK(got.out.narrow(2, 0, 2).abs().max().item<double>() == 0.0);
      got.out.sum().backward();
      for (const auto& tensor : {got.probs, got.out, q.grad(), k.grad(), v.grad()}) {
        CHECK_FALSE(tensor.isnan().any().item<bool>());
      }
      const auto sink = variant->named_parameters()["normaliser.logits"];
      CHECK(sink.requires_grad() == learned);
      CHECK(sink.grad().defined() == learned);
      if (!learned) {
        // Softmax off by one: exp(s_ij) / (1 + sum_l exp(s_il)).
        CHECK(sink.abs().max().item<double>() == 0.0);
        const auto scores = torch::matmul(q, k.transpose(-2, -1)).detach() / std::sqrt(4.0);
        const auto later = torch::triu(torch::ones({query_length, key_length}, torch::kBool),
                                       /*diagonal=*/key_length - query_length + 1);
        const auto weights = torch::exp(scores).masked_fill(later, 0.0);
        CHECK(torch::allclose(got.probs, weights / (1.0 + weights.sum(-1, /*keepdim=*/true))));
      }
    }
  }
}

TEST_CASE("sigmoid attention: bias -ln n by default, rows not normalised", "[variants]") {
  for (const double offset : {0.0, 0.5}) {
    auto options = options_with("normaliser", "sigmoid");
    options.set("sigmoid_offset", offset);
    auto sigmoid = normaliser_registry().at("sigmoid").make(options,
                                                            AttentionSite{0, 1, 4, false, false});
    CHECK(sigmoid->map_kind() == MapKind::Unnormalised);
    for (const std::int64_t keys : {1, 7, 64}) {
      INFO("offset " << offset << ", n = " << keys);
      // Scores of 0: sigmoid(-ln n + offset) = 1 / (1 + n e^-offset).
      const auto map = sigmoid->normalise(torch::zeros({1, 1, 2, keys}, torch::kDouble));
      CHECK(torch::allclose(map, torch::full_like(map, 1.0 / (1.0 + keys * std::exp(-offset)))));
    }
  }
  AttentionVariant variant(options_with("normaliser", "sigmoid"),
                           AttentionSite{0, 2, 4, /*causal=*/false, /*cross=*/false});
  CHECK_FALSE(variant->uses_chunked_path(16, 16));
  CHECK(variant->path_for(16, 16, torch::kFloat) == AttentionPath::Plain);
}

TEST_CASE("shared key/value heads: G = H is the default; G < H repeats each for its group",
          "[variants]") {
  const std::int64_t batch = 2, heads = 4, length = 16, head_dim = 8;
  Combination combination{"scaled", "alibi", "local", /*causal=*/true};
  combination.qk_norm = "rms";  // per-head slopes and a norm of each key/value head
  const auto build = [&](std::int64_t kv_heads) {
    torch::manual_seed(5);
    auto options = combination.options();
    options.set("kv_heads", kv_heads);
    return AttentionVariant(options, AttentionSite{0, heads, head_dim, true, false});
  };
  auto one_per_head = build(0);
  CHECK(one_per_head->kv_heads() == heads);
  torch::manual_seed(8);
  const auto q = torch::randn({batch, heads, length, head_dim});
  const auto k = torch::randn({batch, heads, length, head_dim});
  const auto v = torch::randn({batch, heads, length, head_dim});
  const auto expected = one_per_head->forward(q, k, v, /*need_probs=*/true);
  const auto same = build(heads)->forward(q, k, v, /*need_probs=*/true);
  CHECK(torch::equal(same.out, expected.out));
  CHECK(torch::equal(same.probs, expected.probs));
  for (const std::int64_t kv_heads : {1, 2}) {
    DYNAMIC_SECTION("kv_heads " << kv_heads) {
      auto shared = build(kv_heads);
      const auto shared_k = k.narrow(1, 0, kv_heads), shared_v = v.narrow(1, 0, kv_heads);
      // Query heads h reads key/value head h / (H / G): heads 0..H/G-1 the first, and so on.
      const auto repeated_k = shared_k.repeat_interleave(heads / kv_heads, /*dim=*/1);
      const auto repeated_v = shared_v.repeat_interleave(heads / kv_heads, /*dim=*/1);
      const auto plain = one_per_head->forward(q, repeated_k, repeated_v, /*need_probs=*/true);
      const auto got = shared->forward(q, shared_k, shared_v, /*need_probs=*/true);
      CHECK(torch::allclose(got.out, plain.out, /*rtol=*/1e-6, /*atol=*/1e-7));
      CHECK(torch::allclose(got.probs, plain.probs, /*rtol=*/1e-6, /*atol=*/1e-7));
      REQUIRE(shared->uses_chunked_path(length, length));
      CHECK(torch::allclose(shared->forward(q, shared_k, shared_v).out, plain.out, 1e-5, 1e-6));
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
  // Sigmoid rows are not distributions: top-k's sparse softmax has nothing to keep.
  auto sigmoid_topk = small_options("scaled", "none", "topk");
  sigmoid_topk.set("normaliser", std::string("sigmoid"));
  try {
    validate(sigmoid_topk);
    FAIL("accepted top-k with sigmoid attention");
  } catch (const VariantError& error) {
    CHECK_THAT(error.what(), Catch::Contains("variant.pattern"));
    CHECK_THAT(error.what(), Catch::Contains("variant.normaliser = 'sigmoid'"));
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

namespace {

template <typename RegistryType>
std::pair<std::string, std::vector<std::string>> stage_names(const RegistryType& registry) {
  std::vector<std::string> names;
  for (const auto* entry : registry.entries()) names.push_back(entry->name);
  return {registry.kind(), names};
}

}  // namespace

TEST_CASE("unknown variant names fail and list the registered ones", "[variants]") {
  for (const auto& [stage, names] :
       {stage_names(score_registry()), stage_names(position_registry()),
        stage_names(pattern_registry()), stage_names(qk_norm_registry()),
        stage_names(normaliser_registry()), stage_names(mixer_registry()),
        stage_names(gate_registry())}) {
    DYNAMIC_SECTION(stage) {
      auto options = small_options("scaled", "none", "full");
      options.set(stage, std::string("softmax-of-doom"));
      try {
        validate(options);
        FAIL("validate accepted an unknown " << stage);
      } catch (const std::invalid_argument& error) {
        const std::string message = error.what();
        CHECK_THAT(message, Catch::Contains("variant." + stage));
        CHECK_THAT(message, Catch::Contains("softmax-of-doom"));
        for (const auto& name : names) CHECK_THAT(message, Catch::Contains(name));
      }
    }
  }
}

TEST_CASE("key/value heads must divide the heads, naming variant.kv_heads", "[variants]") {
  for (const std::int64_t kv_heads : {3, 8}) {  // 4 heads: not a divisor, more than the heads
    auto options = small_options("scaled", "none", "full");
    options.set("kv_heads", kv_heads);
    CHECK_THROWS_WITH(validate_heads(options, /*heads=*/4, /*head_dim=*/8),
                      Catch::Contains("variant.kv_heads"));
    CHECK_THROWS_WITH(AttentionVariant(options, AttentionSite{0, 4, 8, true, false}),
                      Catch::Contains("variant.kv_heads"));
  }
}

TEST_CASE("a part's own refusals are reached by validate_heads, naming the key", "[variants]") {
  // What only a part's factory checks is still refused before a model is built.
  auto t5 = small_options("scaled", "t5", "full");
  t5.set("t5_buckets", std::int64_t{32});
  t5.set("t5_max_distance", std::int64_t{16});  // inside the exact buckets
  CHECK_THROWS_WITH(validate_heads(t5, 4, 8), Catch::Contains("variant.t5_max_distance"));
  auto rope = small_options("scaled", "rope", "full");
  rope.set("rope_fraction", 0.1);  // rotates nothing of 8 dimensions
  CHECK_THROWS_WITH(validate_heads(rope, 4, 8), Catch::Contains("variant.rope_fraction"));
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
