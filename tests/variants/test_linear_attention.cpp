// The linear path of kernel attention (linear_attention.h) against the materialised form it
// replaces, FAVOR+'s redrawn features, and the combinations linear attention refuses.
//
// B = batch, H = heads, T = length, F = features, D = head dim.
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include <torch/serialize.h>
#include <torch/torch.h>

#include "tests/variants/variant_test_support.h"
#include "variants/attention_variant.h"
#include "variants/linear_attention.h"

using namespace attnlab::variants;
using attnlab::variants::testing::small_options;

namespace {

// The materialised form: A = φ(Q) φ(K)ᵀ masked (causal: j <= i), divided by its row sums, times V.
torch::Tensor materialised(const torch::Tensor& phi_q, const torch::Tensor& phi_k,
                           const torch::Tensor& v, bool causal, bool denominator) {
  auto map = torch::matmul(phi_q, phi_k.transpose(-2, -1));  // [B,H,T,T]
  if (causal) map = map.tril();
  if (denominator) map = map / map.sum(-1, /*keepdim=*/true);
  return torch::matmul(map, v);
}

VariantOptions kernel_options(const std::string& feature_map) {
  auto options = small_options("kernel", "none", "full");
  options.set("normaliser", std::string("linear"));
  options.set("feature_map", feature_map);
  return options;
}

}  // namespace

TEST_CASE("the causal scan and the global sums equal the materialised map, gradients too",
          "[variants][linear]") {
  for (const bool causal : {true, false}) {
    for (const bool denominator : {true, false}) {
      for (const std::int64_t length : {1, 5, 23, 64}) {
        for (const std::int64_t chunk : {1, 4, 7, 64}) {
          DYNAMIC_SECTION((causal ? "causal" : "bidirectional")
                          << (denominator ? "" : " no denominator") << " T=" << length
                          << " chunk=" << chunk) {
            torch::manual_seed(3);
            const auto options = torch::TensorOptions(torch::kDouble).requires_grad(true);
            auto phi_q = torch::rand({2, 3, length, 6}, options);
            auto phi_k = torch::rand({2, 3, length, 6}, options);
            auto v = torch::randn({2, 3, length, 5}, options);
            const auto scan = linear_attention(phi_q, phi_k, v, causal, chunk, denominator);
            const auto expected = materialised(phi_q, phi_k, v, causal, denominator);
            CHECK(torch::allclose(scan, expected, 1e-10, 1e-12));
            const auto weights = torch::randn_like(expected);
            const auto grads = torch::autograd::grad({(scan * weights).sum()}, {phi_q, phi_k, v});
            const auto want = torch::autograd::grad({(expected * weights).sum()}, {phi_q, phi_k, v});
            for (std::size_t index = 0; index < grads.size(); ++index) {
              INFO("gradient " << index);
              CHECK(torch::allclose(grads[index], want[index], 1e-9, 1e-11));
            }
          }
        }
      }
    }
  }
}

TEST_CASE("every feature map takes the linear path at long lengths and agrees with the plain path",
          "[variants][linear]") {
  // T = 300: five chunks of 64, the last one partial, in float32 as in training.
  for (const auto* entry : feature_map_registry().entries()) {
    DYNAMIC_SECTION("feature map " << entry->name) {
      torch::manual_seed(5);
      auto options = kernel_options(entry->name);
      options.set("chunk", std::int64_t{64});
      options.set("kv_heads", std::int64_t{2});
      AttentionVariant variant(options, AttentionSite{0, /*heads=*/4, /*head_dim=*/16,
                                                      /*causal=*/true});
      const std::int64_t length = 300;
      auto q = torch::randn({1, 4, length, 16}), k = torch::randn({1, 2, length, 16});
      auto v = torch::randn({1, 2, length, 16});
      CHECK(variant->path_for(length, length, q.options()) == AttentionPath::Linear);
      const auto plain = variant->forward_plain(q, k, v).out;
      const auto fast = variant->forward(q, k, v).out;
      CHECK(torch::allclose(fast, plain, 1e-4, 1e-5));
    }
  }
}

TEST_CASE("favor redraws its features every variant.favor_redraw training passes, as a resumed run "
          "does", "[variants][linear]") {
  auto options = kernel_options("favor");
  options.set("favor_redraw", std::int64_t{2});
  options.set("favor_features", std::int64_t{12});
  const AttentionSite site{0, /*heads=*/2, /*head_dim=*/8, /*causal=*/true};
  const auto q = torch::randn({1, 2, 6, 8}), k = torch::randn({1, 2, 6, 8});
  const auto v = torch::randn({1, 2, 6, 8});
  const auto projection = [](AttentionVariant& variant) {
    return variant->named_buffers()["score.feature_map.projection"].clone();
  };
  const auto passes = [&](AttentionVariant& variant, int count) {
    for (int pass = 0; pass < count; ++pass) variant->forward(q, k, v);
  };
  torch::manual_seed(21);
  AttentionVariant uninterrupted(options, site);
  const auto drawn = projection(uninterrupted);
  passes(uninterrupted, 2);
  CHECK(torch::equal(projection(uninterrupted), drawn));  // passes 1 and 2 use the first draw
  passes(uninterrupted, 1);
  const auto redrawn = projection(uninterrupted);
  CHECK_FALSE(torch::equal(redrawn, drawn));  // pass 3 redraws
  uninterrupted->eval();
  passes(uninterrupted, 4);  // evaluation neither counts nor redraws
  CHECK(torch::equal(projection(uninterrupted), redrawn));
  uninterrupted->train();
  passes(uninterrupted, 2);  // passes 4 and 5; pass 5 redraws again

  // Two passes, saved, loaded into a variant built from another seed, three more passes.
  torch::manual_seed(21);
  AttentionVariant before(options, site);
  passes(before, 2);
  std::stringstream saved;
  torch::serialize::OutputArchive out;
  before->save(out);
  out.save_to(saved);
  torch::manual_seed(99);
  AttentionVariant resumed(options, site);
  CHECK_FALSE(torch::equal(projection(resumed), drawn));
  torch::serialize::InputArchive in;
  in.load_from(saved);
  resumed->load(in);
  passes(resumed, 3);
  CHECK(torch::equal(projection(resumed), projection(uninterrupted)));
}

TEST_CASE("favor counts one training pass per forward, also with differential attention's two maps",
          "[variants][linear]") {
  auto options = kernel_options("favor");
  options.set("favor_redraw", std::int64_t{1});  // a redraw before every pass but the first
  options.set("favor_features", std::int64_t{12});
  options.set("mixer", std::string("differential"));
  torch::manual_seed(4);
  AttentionVariant variant(options, AttentionSite{0, /*heads=*/2, /*head_dim=*/8, /*causal=*/true});
  const auto q = torch::randn({1, 2, 6, 8}, torch::requires_grad());
  const auto k = torch::randn({1, 2, 6, 8}), v = torch::randn({1, 2, 6, 8});
  for (int pass = 0; pass < 3; ++pass) {
    // A redraw between the two maps of one pass would fail here: ω is modified in place.
    CHECK_NOTHROW(variant->forward(q, k, v).out.sum().backward());
  }
  CHECK(variant->named_buffers()["score.feature_map.draws"].item<std::int64_t>() == 3);
}

TEST_CASE("favor's random features are orthogonal in blocks, isotropic, and approximate softmax",
          "[variants][linear]") {
  auto options = kernel_options("favor");
  options.set("favor_features", std::int64_t{8192});
  options.set("favor_redraw", std::int64_t{0});
  torch::manual_seed(8);
  AttentionVariant variant(options, AttentionSite{0, /*heads=*/1, /*head_dim=*/8});
  const auto omega = variant->named_buffers()["score.feature_map.projection"];  // [m, d]
  const auto block = omega.narrow(0, 8, 8);
  const auto directions = block / block.norm(2, -1, /*keepdim=*/true);
  CHECK(torch::allclose(torch::matmul(directions, directions.t()), torch::eye(8), 1e-5, 1e-5));
  // Without the sign fix of the QR factor, each block's first row points away from the first
  // axis: the column's mean would be about -0.1; unbiased, its standard error is 0.01.
  CHECK(std::abs(omega.select(1, 0).mean().item<double>()) < 0.05);
  CHECK(omega.norm(2, -1).pow(2).mean().item<double>() == Approx(8.0).epsilon(0.1));  // E χ²_d

  // Rows away from uniform, with q and k small enough for positive random features' variance,
  // which grows as exp(|q + k|^2 / sqrt(d)) (Choromanski et al. 2021, Lemma 2).
  const auto q = torch::randn({1, 1, 16, 8}) * 0.7, k = torch::randn({1, 1, 16, 8}) * 0.7;
  const auto map = variant->forward(q, k, k, /*need_probs=*/true).probs;
  const auto softmax = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(8.0), -1);
  const double error = (map - softmax).abs().max().item<double>();
  const double uniform_error = (softmax - 1.0 / 16).abs().max().item<double>();
  INFO("favor error " << error << ", uniform map's error " << uniform_error);
  CHECK(error < 0.25 * uniform_error);
}

TEST_CASE("only full-pattern, one-map kernel attention takes the linear path", "[variants][linear]") {
  const AttentionSite causal{0, /*heads=*/2, /*head_dim=*/8, /*causal=*/true};
  const auto inputs = torch::TensorOptions(torch::kFloat);
  auto local = kernel_options("elu1");
  local.set("pattern", std::string("local"));
  CHECK(AttentionVariant(local, causal)->path_for(64, 64, inputs) == AttentionPath::Plain);
  auto differential = kernel_options("elu1");
  differential.set("mixer", std::string("differential"));
  CHECK(AttentionVariant(differential, causal)->path_for(64, 64, inputs) == AttentionPath::Plain);
  AttentionVariant full(kernel_options("elu1"), causal);
  CHECK(full->path_for(64, 64, inputs) == AttentionPath::Linear);
  CHECK(full->path_for(10, 64, inputs) == AttentionPath::Plain);  // causal, fewer queries
  AttentionSite cross = causal;
  cross.causal = false;
  cross.cross = true;
  CHECK(AttentionVariant(kernel_options("cosformer"), cross)->path_for(80, 64, inputs) ==
        AttentionPath::Linear);
}

TEST_CASE("cosformer's products stay non-negative when queries outnumber keys", "[variants][linear]") {
  AttentionSite cross{0, /*heads=*/2, /*head_dim=*/8, /*causal=*/false, /*cross=*/true};
  AttentionVariant variant(kernel_options("cosformer"), cross);
  const auto q = torch::randn({1, 2, 40, 8}), k = torch::randn({1, 2, 12, 8});
  const auto map = variant->forward(q, k, k, /*need_probs=*/true).probs;  // [1,2,40,12]
  CHECK(map.min().item<double>() >= 0.0);
  CHECK(torch::allclose(variant->forward_linear(q, k, k), variant->forward_plain(q, k, k).out,
                        1e-4, 1e-5));
}

TEST_CASE("linear attention refuses parts it cannot express, naming the key", "[variants][linear]") {
  const auto refused = [](VariantOptions options, const std::string& key) {
    INFO("expects an error naming " << key);
    try {
      validate(options);
      FAIL("accepted");
    } catch (const VariantError& error) {
      CHECK(std::string(error.what()).rfind(key, 0) == 0);
    }
  };
  auto topk = kernel_options("elu1");
  topk.set("pattern", std::string("topk"));
  refused(topk, "variant.pattern");
  auto softmax = kernel_options("elu1");
  softmax.set("normaliser", std::string("softmax"));
  refused(softmax, "variant.normaliser");
  auto linear_on_logits = small_options("scaled", "none", "full");
  linear_on_logits.set("normaliser", std::string("linear"));
  refused(linear_on_logits, "variant.normaliser");
  for (const std::string position : {"alibi", "t5", "rope"}) {
    auto biased = kernel_options("taylor");
    biased.set("position", position);
    refused(biased, "variant.position");
  }
  auto capped = kernel_options("relu");
  capped.set("softcap", 30.0);
  refused(capped, "variant.softcap");
  // A factory's refusal, reached by building the variant (as the config check does).
  auto favor_without_denominator = kernel_options("favor");
  favor_without_denominator.set("linear_denominator", false);
  try {
    validate_heads(favor_without_denominator, /*heads=*/2, /*head_dim=*/8);
    FAIL("accepted");
  } catch (const VariantError& error) {
    CHECK(std::string(error.what()).rfind("variant.linear_denominator", 0) == 0);
  }
}
