// The cost estimate without running anything: its parameter count is the built model's, for every
// model shape, variant parts with parameters of their own and hybrid stacks; each attention path's
// term grows as the path's memory does (chunked and linear: O(T); plain: O(T^2)); a run past the
// available memory is refused naming its largest term, unless runtime.allow_oversubscribe says
// otherwise.
#include <catch2/catch.hpp>

#include "experiments/model/model_config.h"
#include "experiments/model/model_size.h"
#include "experiments/run/schema.h"
#include "experiments/train/cost_estimate.h"

using namespace attnlab;

namespace {

config::Config config_with(std::vector<std::string> overrides) {
  overrides.push_back("runtime.progress=none");
  return run::load_config(run::default_config_file(), overrides);
}

std::int64_t term_bytes(const train::CostEstimate& estimate, const std::string& name) {
  for (const auto& term : estimate.terms) {
    if (term.name == name) return term.bytes;
  }
  FAIL("no term " << name);
  return 0;
}

}  // namespace

TEST_CASE("the estimate's parameter count is the built model's", "[cost]") {
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"variant=additive"},
      {"variant=rope", "model.positions=none"},
      {"variant=alibi", "model.positions=sinusoidal"},
      {"variant=bigbird", "variant.block=8"},
      {"model.attention_only=true", "model.layers=3"},
      {"model.arch=encoder_decoder"},
      {"model.arch=encoder_decoder", "variant=additive"},
      {"--config=listops"},
      {"task=mqar", "model.d_model=96", "model.heads=3"},
      {"model.layers=4", "model.layer_variants=[mqa,differential,t5,gated]"},
      {"model.arch=encoder_decoder", "model.layer_variants=[sink,gqa]"},
  };
  for (const auto& overrides : cases) {
    std::string label;
    for (const auto& text : overrides) label += text + " ";
    DYNAMIC_SECTION(label) {
      auto list = overrides;
      config::Config config;
      if (!list.empty() && list.front() == "--config=listops") {
        list.erase(list.begin());
        config = run::load_config(run::default_config_dir() / "listops.toml", list);
      } else {
        config = config_with(list);
      }
      const auto task = tasks::make_task(config);
      const auto spec = model::model_spec(config, *task);
      model::Transformer built(spec);
      CHECK(model::parameter_count(spec) == built->parameter_count());
      CHECK(train::estimate_cost(config).parameters == built->parameter_count());
    }
  }
}

TEST_CASE("each attention path's term grows as that path's memory does", "[cost]") {
  // Sequences past variant.materialise_max take the chunked path: O(T) memory.
  auto chunked = [](int length) {
    return train::estimate_cost(config_with({"task.length=" + std::to_string(length),
                                             "train.batch=4", "record.every=0"}));
  };
  const auto at_512 = chunked(256), at_1024 = chunked(512);  // copy: T = 2 x task.length
  REQUIRE(at_512.attention_paths.front() == "self 512x512: chunked");
  CHECK(term_bytes(at_1024, "step attention") == 2 * term_bytes(at_512, "step attention"));
  // The plain path (a score the fused path cannot take) keeps [B,H,T,T] twice: O(T^2).
  auto plain = [](int length) {
    return train::estimate_cost(config_with({"variant=additive", "task.length=" + std::to_string(length),
                                             "train.batch=4", "record.every=0"}));
  };
  const auto short_plain = plain(32), long_plain = plain(64);
  REQUIRE(short_plain.attention_paths.front() == "self 64x64: plain");
  const std::int64_t expected = 2 /*layers*/ * 2 * 4 /*B*/ * 4 /*H*/ * 64 * 64 * 4 /*bytes*/;
  CHECK(term_bytes(short_plain, "step attention") == expected);
  CHECK(term_bytes(long_plain, "step attention") == 4 * expected);
  // The fused path keeps only the row blocks' reachable keys: a little over half of a causal map.
  const auto fused = train::estimate_cost(config_with({"task.length=64", "train.batch=4", "record.every=0"}));
  REQUIRE(fused.attention_paths.front() == "self 128x128: fused");
  const double full = 2.0 * 4 * 4 * 128 * 128 * 4;  // layers x B x H x T x T x bytes
  CHECK(term_bytes(fused, "step attention") == Approx(full * (64.0 * 64 + 64.0 * 128) / (128.0 * 128)));
}

TEST_CASE("linear attention's term grows as T and with its features, not as T^2", "[cost]") {
  // The tiny model (2 layers, H = 4, D = 16), B = 4, variant.chunk = 128; copy: T = 2 x
  // task.length.
  auto linear = [](const std::string& variant, int length) {
    return train::estimate_cost(config_with({"variant=" + variant,
                                             "task.length=" + std::to_string(length),
                                             "train.batch=4", "record.every=0"}));
  };
  const double layers = 2, b = 4, h = 4, t = 4096, e = 16 + 1 /*ones column*/, chunks = t / 128;
  // φ(q), φ(k) [T,F]; v with its ones column and the attended [T,E]; per chunk a state [F,E] and
  // its prefix sum, and the within-chunk products [C,C]: bytes of every layer.
  auto formula = [&](double features) {
    const double per_chunk = 2 * features * e + 128 * 128;
    return layers * b * h * (2 * t * features + 2 * t * e + chunks * per_chunk) * 4;
  };
  const double plain = layers * 2 * b * h * t * t * 4;  // the plain path keeps [B,H,T,T] twice
  const auto elu1 = linear("linear_elu1", 2048);
  REQUIRE(elu1.attention_paths.front() == "self 4096x4096: linear");
  const auto elu1_bytes = static_cast<double>(term_bytes(elu1, "step attention"));
  CHECK(elu1_bytes < plain / 20);  // 41x less here
  CHECK(elu1_bytes > 0.5 * formula(16));  // elu1: F = D
  CHECK(elu1_bytes < 2.0 * formula(16));
  CHECK(term_bytes(elu1, "cached masks") == 0);  // no [T,T] mask either
  CHECK(term_bytes(linear("linear_elu1", 4096), "step attention") ==
        2 * term_bytes(elu1, "step attention"));
  // Taylor features: F = 1 + 16 + 16^2 = 273 of them, about four times elu1's memory.
  const auto taylor = linear("linear_taylor", 2048);
  const auto taylor_bytes = static_cast<double>(term_bytes(taylor, "step attention"));
  CHECK(taylor_bytes > 0.5 * formula(273));
  CHECK(taylor_bytes < 2.0 * formula(273));
  CHECK(taylor_bytes > 2.0 * elu1_bytes);
}

TEST_CASE("a hybrid stack's attention paths are listed per layer variant", "[cost]") {
  const auto estimate = train::estimate_cost(config_with(
      {"model.layers=3", "model.layer_variants=[scaled,differential,scaled]", "record.every=0"}));
  CHECK(estimate.attention_paths ==
        std::vector<std::string>{"self 32x32 (scaled x2): fused",
                                 "self 32x32 (differential x1): plain"});
}

TEST_CASE("the recorder's probe and the validation pass are their own phases", "[cost]") {
  const auto recording = train::estimate_cost(config_with({"record.samples=64", "train.batch=8"}));
  CHECK(recording.peak_phase == train::Phase::Recording);
  const auto without = train::estimate_cost(config_with({"record.every=0", "train.batch=8"}));
  CHECK(without.peak_phase == train::Phase::Step);  // 8 examples with a graph beat 8 without
  const auto accumulated =
      train::estimate_cost(config_with({"record.every=0", "train.batch=64", "train.accumulate=8"}));
  CHECK(accumulated.peak_phase == train::Phase::Evaluation);  // the step sees 8, validation 64
  CHECK(recording.peak_bytes > without.peak_bytes);
}

TEST_CASE("a run past the available memory is refused, naming its largest term", "[cost]") {
  // 20,000,000-token examples: petabytes, past any machine's memory.
  const auto config = config_with({"task.length=10000000", "train.steps=1", "record.every=0"});
  const auto estimate = train::estimate_cost(config);
  CHECK(estimate.largest().name == "step activations");
  CHECK_THROWS_WITH(train::check_memory(estimate, config),
                    Catch::Contains("step activations") && Catch::Contains("train.batch"));
  // Recording at that length would hold every layer's 2e7 x 2e7 maps of the probe.
  const auto recording = config_with({"task.length=10000000", "train.steps=1"});
  CHECK(train::estimate_cost(recording).largest().name == "probe attention");
  CHECK_THROWS_WITH(train::check_memory(train::estimate_cost(recording), recording),
                    Catch::Contains("record.samples"));
  const auto allowed = config_with({"task.length=10000000", "train.steps=1",
                                    "runtime.allow_oversubscribe=true"});
  CHECK_NOTHROW(train::check_memory(train::estimate_cost(allowed), allowed));
  // The default experiment fits once, and a hundred thousand side by side do not.
  const auto small = config_with({});
  CHECK_NOTHROW(train::check_memory(train::estimate_cost(small), small));
  CHECK_THROWS_WITH(train::check_memory(train::estimate_cost(small), small, 100000),
                    Catch::Contains("100000 runs side by side"));
}
