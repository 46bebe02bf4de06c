// Head importance and head ablation (experiments/train/head_importance.h, head_ablation.h) on
// small untrained models, in process: I_h over a split in uneven batches is the per-example
// definition; a head whose W_O columns are zero has I_h = 0 and masking it changes nothing; the
// pruning curve starts at plain evaluate() and ends at every head masked, and masks heads by
// increasing importance; masks and gates are gone afterwards.
//
// B = examples, H = heads of one layer (4 here), D = head dim (16 here).
#include <catch2/catch.hpp>

#include <algorithm>

#include <torch/csrc/autograd/autograd.h>
#include <torch/utils.h>

#include "experiments/model/model_config.h"
#include "experiments/run/schema.h"
#include "experiments/train/ablation_report.h"
#include "experiments/train/head_ablation.h"
#include "experiments/train/objective.h"
#include "tests/support/short_run.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;

namespace {

struct Setup {
  config::Config config;
  std::shared_ptr<tasks::Task> task;
  model::Transformer model{nullptr};
};

// An untrained model (seeded, so every run of the test sees the same weights) and its task, with
// a validation split of `val_examples`.
Setup make_setup(const std::filesystem::path& results, std::vector<std::string> extra = {},
                 std::int64_t val_examples = 24) {
  extra.push_back("task.val_examples=" + std::to_string(val_examples));
  extra.push_back("record.samples=4");  // the probe must fit in the validation split
  Setup setup{testing::short_run(results, extra), nullptr, nullptr};
  setup.task = tasks::make_task(setup.config);
  torch::manual_seed(static_cast<std::uint64_t>(setup.config.get_int("seed")));
  setup.model = model::Transformer(model::model_spec(setup.config, *setup.task));
  return setup;
}

// Zeroes the columns of W_O that head `head` of attention layer `layer` writes through.
void zero_output_columns(model::Transformer& model, const train::HeadId& head) {
  torch::NoGradGuard no_grad;
  auto layer = model->attention_layers()[static_cast<std::size_t>(head.layer)];
  const auto head_dim = model->spec().d_model / layer->heads();
  layer->output_projection()->weight.narrow(1, head.head * head_dim, head_dim).zero_();
}

void check_same(const train::EvalMetrics& actual, const train::EvalMetrics& expected) {
  CHECK(actual.loss == expected.loss);
  CHECK(actual.accuracy == expected.accuracy);
  CHECK(actual.sequence_accuracy == expected.sequence_accuracy);
  CHECK(actual.examples == expected.examples);
  CHECK(actual.extra == expected.extra);
}

// evaluate() with every head of every attention layer gated to 0, set by hand.
train::EvalMetrics evaluate_all_masked(Setup& setup, const train::EvaluationSet& set) {
  for (auto& layer : setup.model->attention_layers()) {
    layer->set_head_gate(torch::zeros({layer->heads()}));
  }
  const auto metrics =
      train::evaluate(setup.model, *setup.task, set.split, set.batch_size, set.device);
  for (auto& layer : setup.model->attention_layers()) layer->set_head_gate(torch::Tensor());
  return metrics;
}

}  // namespace

TEST_CASE("importance over a split is the mean over examples of |dL(x)/d gate|, per layer",
          "[ablation]") {
  testing::TempDir results;
  // Decoder LM, encoder-decoder (self and cross attention) and pooled classification.
  const auto shape = GENERATE(as<std::string>{}, "decoder", "encoder_decoder", "classification");
  DYNAMIC_SECTION(shape) {
    std::vector<std::string> overrides = {"model.arch=" + std::string(shape)};
    if (shape == std::string("classification")) {
      overrides = {"task=listops", "model.arch=encoder", "task.length=32"};
    }
    auto setup = make_setup(results.path(), overrides, /*val_examples=*/12);
    train::EvaluationSet set;
    set.batch_size = 5;  // uneven batches: 5, 5, 2
    const auto importance = train::head_importance(setup.model, *setup.task, set);
    auto layers = setup.model->attention_layers();
    REQUIRE(importance.raw.size() == layers.size());
    REQUIRE(importance.normalised.size() == layers.size());
    CHECK(importance.examples == 12);
    CHECK(train::all_heads(setup.model).size() == 4 * layers.size());
    if (shape == std::string("encoder_decoder")) CHECK(layers.size() == 6);  // 2 enc, 2 x 2 dec

    // The definition, one example at a time with shared gates [H].
    std::vector<torch::Tensor> gates, expected;
    for (auto& layer : layers) {
      gates.push_back(torch::ones({layer->heads()}, torch::requires_grad()));
      expected.push_back(torch::zeros({layer->heads()}, torch::kDouble));
      layer->set_head_gate(gates.back());
    }
    setup.model->eval();
    for (std::int64_t example = 0; example < 12; ++example) {
      const auto batch = setup.task->examples(tasks::Split::Val, example, 1);
      const auto logits = setup.model->forward(batch.inputs, nullptr, batch.source);
      const auto loss = train::objective(logits, batch.targets).loss;
      const auto gradients = torch::autograd::grad({loss}, gates);
      for (std::size_t layer = 0; layer < layers.size(); ++layer) {
        expected[layer] += gradients[layer].abs().to(torch::kDouble) / 12.0;
      }
    }
    for (auto& layer : layers) layer->set_head_gate(torch::Tensor());
    for (std::size_t layer = 0; layer < layers.size(); ++layer) {
      const auto norm = expected[layer].norm().item<double>();
      for (std::int64_t head = 0; head < 4; ++head) {
        INFO("layer " << layer << " (" << (layers[layer]->site().cross ? "cross" : "self")
                      << ") head " << head);
        const auto want = expected[layer][head].item<double>();
        CHECK(want > 0.0);
        CHECK(importance.raw[layer][head].item<double>() ==
              Approx(want).epsilon(1e-4).margin(1e-9));
        CHECK(importance.normalised[layer][head].item<double>() ==
              Approx(want / norm).epsilon(1e-4));
      }
    }
  }
}

TEST_CASE("importance and evaluation can use the split's first examples only", "[ablation]") {
  testing::TempDir results;
  auto setup = make_setup(results.path());
  train::EvaluationSet first;
  first.max_examples = 7;
  const auto limited = train::head_importance(setup.model, *setup.task, first);
  CHECK(limited.examples == 7);
  const auto metrics = train::evaluate_masked(setup.model, *setup.task, first, {});
  CHECK(metrics.examples == 7);

  // The same as a split of exactly those 7 examples (examples are indexed, not drawn).
  auto small = make_setup(results.path(), {}, /*val_examples=*/7);
  const auto whole = train::head_importance(small.model, *small.task, train::EvaluationSet{});
  CHECK(whole.examples == 7);
  for (std::size_t layer = 0; layer < whole.raw.size(); ++layer) {
    CHECK(torch::allclose(limited.raw[layer], whole.raw[layer]));
  }
  check_same(train::evaluate_masked(small.model, *small.task, train::EvaluationSet{}, {}),
             metrics);
}

TEST_CASE("a head whose output projection is zero has importance 0 and masking it changes "
          "nothing",
          "[ablation]") {
  testing::TempDir results;
  auto setup = make_setup(results.path());
  const train::HeadId dead{/*layer=*/1, /*head=*/2};
  zero_output_columns(setup.model, dead);
  const train::EvaluationSet set;
  const auto ablation = train::ablate_heads(setup.model, *setup.task, set);

  CHECK(ablation.importance_of(dead) == 0.0);
  CHECK(ablation.normalised_importance_of(dead) == 0.0);
  const auto unmasked = train::evaluate(setup.model, *setup.task, set.split, set.batch_size,
                                        set.device);
  REQUIRE(ablation.heads.size() == 8);
  for (std::size_t index = 0; index < ablation.heads.size(); ++index) {
    const auto& head = ablation.heads[index];
    INFO(train::head_name(head));
    if (head == dead) {
      check_same(ablation.single[index], unmasked);
    } else {
      CHECK(ablation.importance_of(head) > 0.0);
      CHECK(ablation.single[index].loss != unmasked.loss);  // every live head matters a little
    }
  }
  // ablation.csv: the dead head's row has importance 0 and deltas 0.
  const auto csv = train::ablation_csv(ablation);
  CHECK_THAT(csv, Catch::StartsWith("layer,head,importance,importance_normalised,loss,accuracy,"
                                    "delta_loss,delta_accuracy\n"));
  CHECK_THAT(csv, Catch::Contains(fmt::format("\n1,2,0,0,{},{},0,0\n", unmasked.loss,
                                              unmasked.accuracy)));
}

TEST_CASE("the pruning curve runs from plain evaluate() to every head masked", "[ablation]") {
  testing::TempDir results;
  auto setup = make_setup(results.path());
  const train::EvaluationSet set;
  std::vector<std::string> evaluations;
  const auto ablation = train::ablate_heads(
      setup.model, *setup.task, set,
      [&](const std::string& masked, const train::EvalMetrics&) { evaluations.push_back(masked); });

  const auto unmasked = train::evaluate(setup.model, *setup.task, set.split, set.batch_size,
                                        set.device);
  const auto all_masked = evaluate_all_masked(setup, set);
  REQUIRE(all_masked.loss != unmasked.loss);  // the two ends differ, so the checks can fail
  for (const auto* curve : {&ablation.curve, &ablation.reverse_curve}) {
    REQUIRE(curve->size() == 9);  // 8 heads: 0, 1, ..., 8 (2 of the 10% steps round alike)
    CHECK(curve->front().heads_masked == 0);
    CHECK(curve->front().fraction == 0.0);
    check_same(curve->front().metrics, unmasked);
    CHECK(curve->back().heads_masked == 8);
    CHECK(curve->back().fraction == 1.0);
    check_same(curve->back().metrics, all_masked);
  }
  CHECK(evaluations.size() == 9 + 9 + 8);  // both curves, then each head alone
  CHECK(evaluations.front() == "0 of 8 heads");
  CHECK(evaluations.back() == "layer 1 head 3");

  // The gates are gone again, and the model is back in its mode: the model evaluates as before.
  check_same(train::evaluate(setup.model, *setup.task, set.split, set.batch_size, set.device),
             unmasked);
  for (auto& parameter : setup.model->parameters()) parameter.requires_grad_(false);
  const auto batch = setup.task->examples(tasks::Split::Val, 0, 2);
  CHECK_FALSE(setup.model->forward(batch.inputs).requires_grad());
  CHECK(setup.model->is_training());

  // pruning.csv: a header, then one row per point.
  const auto csv = train::pruning_csv(ablation.curve);
  CHECK_THAT(csv, Catch::StartsWith("fraction,heads_masked,loss,accuracy,sequence_accuracy\n"
                                    "0,0,"));
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 10);
  const auto svg = train::pruning_svg(ablation, "test");
  CHECK_THAT(svg, Catch::StartsWith("<svg "));
  CHECK_THAT(svg, Catch::Contains("decreasing importance"));
}

TEST_CASE("the pruning curve masks heads by increasing importance", "[ablation]") {
  testing::TempDir results;
  auto setup = make_setup(results.path());
  // Three heads that cannot matter: they must go first, and masking them changes nothing.
  const std::vector<train::HeadId> dead = {{1, 3}, {0, 1}, {1, 0}};
  for (const auto& head : dead) zero_output_columns(setup.model, head);
  const train::EvaluationSet set;
  const auto ablation = train::ablate_heads(setup.model, *setup.task, set);

  REQUIRE(ablation.order.size() == 8);
  // Ties (the three zeros) by layer, then head. (Parenthesised braces: LibTorch 2.x's logging
  // defines a one-argument CHECK of its own.)
  CHECK(ablation.order[0] == (train::HeadId{0, 1}));
  CHECK(ablation.order[1] == (train::HeadId{1, 0}));
  CHECK(ablation.order[2] == (train::HeadId{1, 3}));
  for (std::size_t rank = 1; rank < ablation.order.size(); ++rank) {
    CHECK(ablation.normalised_importance_of(ablation.order[rank - 1]) <=
          ablation.normalised_importance_of(ablation.order[rank]));
  }
  CHECK(ablation.normalised_importance_of(ablation.order[3]) > 0.0);

  const auto& unmasked = ablation.unmasked();
  for (std::size_t point = 1; point <= 3; ++point) {
    INFO("point " << point);
    REQUIRE(ablation.curve[point].heads_masked == static_cast<std::int64_t>(point));
    check_same(ablation.curve[point].metrics, unmasked);  // only dead heads masked so far
    // Decreasing importance masks live heads first.
    CHECK(ablation.reverse_curve[point].metrics.loss != unmasked.loss);
  }
  // Point k masks exactly the first k heads of the order.
  const auto& fifth = ablation.curve[5];
  REQUIRE(fifth.heads_masked == 5);
  const std::vector<train::HeadId> first_five(ablation.order.begin(), ablation.order.begin() + 5);
  check_same(fifth.metrics, train::evaluate_masked(setup.model, *setup.task, set, first_five));
  CHECK(fifth.metrics.loss != unmasked.loss);
}

TEST_CASE("pruning counts: 10% steps rounded to whole heads, without repeats", "[ablation]") {
  using Counts = std::vector<std::int64_t>;
  CHECK(train::pruning_counts(8) == (Counts{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  CHECK(train::pruning_counts(4) == (Counts{0, 1, 2, 3, 4}));
  CHECK(train::pruning_counts(5) == (Counts{0, 1, 2, 3, 4, 5}));  // halves round up
  CHECK(train::pruning_counts(24) == (Counts{0, 2, 5, 7, 10, 12, 14, 17, 19, 22, 24}));
  CHECK(train::pruning_counts(1) == (Counts{0, 1}));
  CHECK(train::pruning_counts(10, /*steps=*/2) == (Counts{0, 5, 10}));
}

TEST_CASE("a mask naming a head the model does not have is refused", "[ablation]") {
  testing::TempDir results;
  auto setup = make_setup(results.path());
  CHECK_THROWS_AS(train::HeadMask(setup.model, {{2, 0}}), std::out_of_range);
  CHECK_THROWS_AS(train::HeadMask(setup.model, {{0, 4}}), std::out_of_range);
  // Nothing is left behind by the refused mask.
  for (auto& parameter : setup.model->parameters()) parameter.requires_grad_(false);
  const auto batch = setup.task->examples(tasks::Split::Val, 0, 2);
  const auto plain = setup.model->forward(batch.inputs);
  {
    const train::HeadMask nothing(setup.model, {});
    CHECK(torch::equal(setup.model->forward(batch.inputs), plain));  // gates of 1 change nothing
  }
}
