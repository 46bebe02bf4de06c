// Shared by the fast paths' tests (fused, chunked): the cases that move the parts each path serves
// to soft-capping, a sink and shared key/value heads, and the comparison of a path's outputs and
// gradients (in q, k, v and the sink logits) with the plain path's.
//
// B = batch, H = heads, G = key/value heads, Tq = query length, Tk = key length, D = head dim.
#pragma once

#include <catch2/catch.hpp>

#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "tests/variants/variant_test_support.h"
#include "variants/attention_variant.h"

namespace attnlab::variants::testing {

// Scores of a few units with 8-wide heads: a cap of 1.5 bends most of them.
constexpr double kBitingCap = 1.5;
constexpr std::int64_t kFastPathHeads = 4;
constexpr std::int64_t kFastPathHeadDim = 8;

struct FastPathCase {
  std::string score, position, pattern;
  bool causal = false, cross = false;
  std::int64_t kv_heads = 0;  // 0: one per query head
  double softcap = std::numeric_limits<double>::infinity();
  bool sink = false;

  std::string name() const {
    std::ostringstream out;
    out << score << "+" << position << "+" << pattern << (causal ? " causal" : " bidirectional")
        << (cross ? " cross" : " self") << " kv_heads=" << kv_heads << " softcap=" << softcap
        << (sink ? " sink" : " softmax");
    return out.str();
  }
  VariantOptions options() const {
    auto options = small_options(score, position, pattern);
    options.set("kv_heads", kv_heads);
    options.set("softcap", softcap);
    options.set("normaliser", std::string(sink ? "sink" : "softmax"));
    return options;
  }
  std::int64_t key_heads() const { return kv_heads == 0 ? kFastPathHeads : kv_heads; }
};

// Each setup with key/value heads {H, 1, 2} x soft-cap {none, kBitingCap} x {softmax, sink}, where
// validate() accepts the combination.
inline std::vector<FastPathCase> fast_path_cases(const std::vector<FastPathCase>& setups) {
  std::vector<FastPathCase> cases;
  for (const auto& setup : setups) {
    for (const std::int64_t kv_heads : {0, 1, 2}) {
      for (const double softcap : {std::numeric_limits<double>::infinity(), kBitingCap}) {
        for (const bool sink : {false, true}) {
          FastPathCase combination = setup;
          combination.kv_heads = kv_heads;
          combination.softcap = softcap;
          combination.sink = sink;
          try {
            validate(combination.options());
          } catch (const std::invalid_argument&) {
            continue;
          }
          cases.push_back(combination);
        }
      }
    }
  }
  return cases;
}

// Random logits of both signs instead of the initial zeros, so that the sink's share of each row
// differs between heads; no-op without a sink.
inline void randomise_sink_logits(AttentionVariant& variant) {
  auto logits = variant->normaliser().sink_logits();  // [H], shares the parameter's storage
  if (!logits.defined()) return;
  torch::NoGradGuard no_grad;
  logits.copy_(torch::randn(logits.sizes(), logits.options()) * 1.5);
}

// The variant of a case for kFastPathHeads heads of kFastPathHeadDim, in dtype, with random sink
// logits (when it has a sink).
inline AttentionVariant make_variant(const FastPathCase& combination, torch::Dtype dtype) {
  AttentionVariant variant(combination.options(),
                           AttentionSite{0, kFastPathHeads, kFastPathHeadDim, combination.causal,
                                         combination.cross});
  variant->to(dtype);
  randomise_sink_logits(variant);
  return variant;
}

// A setup with a sink, kv_heads key/value heads and a soft-cap (inf: none).
inline FastPathCase sink_case(FastPathCase setup, std::int64_t kv_heads, double softcap) {
  setup.sink = true;
  setup.kv_heads = kv_heads;
  setup.softcap = softcap;
  return setup;
}

struct AttentionInputs {
  torch::Tensor q, k, v;  // [B,H,Tq,D], [B,G,Tk,D], [B,G,Tk,D], requiring gradients
  torch::Tensor weights;  // [B,H,Tq,D]: the loss is sum(out * weights)
};

inline AttentionInputs random_inputs(const FastPathCase& combination, std::int64_t batch,
                                     std::int64_t query_length, std::int64_t key_length,
                                     torch::Dtype dtype) {
  const auto options = torch::TensorOptions().dtype(dtype);
  const std::int64_t head_dim = kFastPathHeadDim;
  const auto q_shape = std::vector<std::int64_t>{batch, kFastPathHeads, query_length, head_dim};
  const auto kv_shape =
      std::vector<std::int64_t>{batch, combination.key_heads(), key_length, head_dim};
  return {torch::randn(q_shape, options).requires_grad_(true),
          torch::randn(kv_shape, options).requires_grad_(true),
          torch::randn(kv_shape, options).requires_grad_(true), torch::randn(q_shape, options)};
}

// The output and the gradients of sum(out * weights) in q, k, v and the sink logits (undefined
// without a sink), for one path's forward.
struct PathResult {
  torch::Tensor out;
  std::vector<torch::Tensor> grads;
};

inline PathResult run_path(AttentionVariant& variant, AttentionInputs& inputs,
                           const std::function<torch::Tensor()>& forward) {
  auto sink = variant->normaliser().sink_logits();
  std::vector<torch::Tensor> sources = {inputs.q, inputs.k, inputs.v};
  if (sink.defined()) sources.push_back(sink);
  for (auto& source : sources) source.mutable_grad() = torch::Tensor();
  PathResult result{forward(), {}};
  (result.out * inputs.weights).sum().backward();
  for (auto& source : sources) {
    result.grads.push_back(source.grad().defined() ? source.grad().clone() : torch::Tensor());
  }
  return result;
}

inline PathResult run_plain(AttentionVariant& variant, AttentionInputs& inputs) {
  return run_path(variant, inputs,
                  [&] { return variant->forward_plain(inputs.q, inputs.k, inputs.v).out; });
}

// The fast path's outputs and gradients against the plain path's, within (rtol, atol) for the
// outputs and (grad_rtol, grad_atol) for the gradients. With a sink its gradient must be there and
// not vanish, so a path that dropped it fails.
inline void check_against_plain(const PathResult& fast, const PathResult& plain, double rtol,
                                double atol, double grad_rtol, double grad_atol) {
  CHECK(torch::allclose(fast.out, plain.out, rtol, atol));
  REQUIRE(fast.grads.size() == plain.grads.size());
  for (std::size_t index = 0; index < plain.grads.size(); ++index) {
    INFO("gradient in " << (index < 3 ? std::string(1, "qkv"[index]) : "the sink logits"));
    REQUIRE(fast.grads[index].defined());
    CHECK(torch::allclose(fast.grads[index], plain.grads[index], grad_rtol, grad_atol));
  }
  if (plain.grads.size() == 4) CHECK(plain.grads[3].abs().max().item<double>() > 1e-3);
}

// The sink logits' gradient through `forward` (a fast path's) against central finite differences
// of the loss in each head's logit, which must matter to the loss (so a lost gradient fails).
inline void check_sink_gradient(AttentionVariant& variant, AttentionInputs& inputs,
                                const std::function<torch::Tensor()>& forward, double step,
                                double epsilon, double margin) {
  const auto analytic = run_path(variant, inputs, forward).grads.at(3);  // [H]
  auto logits = variant->normaliser().sink_logits();                    // [H]
  torch::NoGradGuard no_grad;
  const auto loss = [&] { return (forward() * inputs.weights).sum().item<double>(); };
  for (std::int64_t head = 0; head < logits.size(0); ++head) {
    logits[head] += step;
    const double plus = loss();
    logits[head] -= 2 * step;
    const double minus = loss();
    logits[head] += step;
    const double numeric = (plus - minus) / (2 * step);
    const double exact = analytic[head].item<double>();
    INFO("head " << head << ": numeric " << numeric << ", analytic " << exact);
    CHECK(std::abs(numeric) > 1e-2);
    CHECK(exact == Approx(numeric).epsilon(epsilon).margin(margin));
  }
}

// Under a sink, the first `empty` queries see no key: their outputs are 0 (all their mass went
// to the sink), every gradient is finite, and the fast path agrees with the plain one.
inline void check_empty_rows_under_sink(const PathResult& fast, const PathResult& plain,
                                        std::int64_t empty, double rtol, double atol,
                                        double grad_rtol, double grad_atol) {
  CHECK(fast.out.narrow(/*dim=*/2, 0, empty).abs().max().item<double>() == 0.0);
  for (const auto& grad : fast.grads) CHECK(torch::isfinite(grad).all().item<bool>());
  check_against_plain(fast, plain, rtol, atol, grad_rtol, grad_atol);
}

}  // namespace attnlab::variants::testing
