// Head ablation (Michel et al. 2019): a trained model re-evaluated with attention heads masked,
// i.e. their gate ξ_h set to 0, so that they add nothing to their layer's output (W_O's bias,
// shared by the layer's heads, stays). Two experiments on top of head_importance():
// - the pruning curve: heads masked cumulatively by increasing importance, 10% of them at a time
//   (Michel et al. find that a large fraction can go with little loss, then a sharp drop); the
//   same by decreasing importance is the baseline it is compared against;
// - single-head ablations: each head masked alone, the rest intact.
//
// A head is named by its attention layer's index in Transformer::attention_layers() (forward
// order, self- and cross-attention alike: the layer indices of the attention dump) and its index
// within the layer.
//
// N = heads over all attention layers, H = heads of one layer.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "experiments/model/transformer.h"
#include "experiments/tasks/task.h"
#include "experiments/train/evaluate.h"
#include "experiments/train/head_importance.h"

namespace attnlab::train {

struct HeadId {
  std::int64_t layer = 0;  // index among the model's attention layers, in forward order
  std::int64_t head = 0;
  bool operator==(const HeadId& other) const {
    return layer == other.layer && head == other.head;
  }
};
std::string head_name(const HeadId& head);  // "layer 1 head 3"

// Every head of the model: layer by layer, heads in order.
std::vector<HeadId> all_heads(const model::Transformer& model);

// Gates of 0 on `masked` heads and 1 on the others ([H] per attention layer) while it lives;
// the layers are left without a gate afterwards. Throws std::out_of_range for a head the model
// does not have.
class HeadMask {
 public:
  HeadMask(const model::Transformer& model, const std::vector<HeadId>& masked);
  ~HeadMask();
  HeadMask(const HeadMask&) = delete;
  HeadMask& operator=(const HeadMask&) = delete;

 private:
  std::vector<model::MultiHeadAttention> layers_;
};

// What ablations evaluate on: the first `max_examples` examples of a split (0: all), in batches.
struct EvaluationSet {
  tasks::Split split = tasks::Split::Val;
  std::int64_t batch_size = 64;
  std::int64_t max_examples = 0;
  torch::Device device = torch::kCPU;
};

// evaluate() with `masked` heads gated to 0.
EvalMetrics evaluate_masked(model::Transformer& model, const tasks::Task& task,
                            const EvaluationSet& set, const std::vector<HeadId>& masked);

// head_importance() on an evaluation set.
HeadImportance head_importance(model::Transformer& model, const tasks::Task& task,
                               const EvaluationSet& set);

// Every head by increasing normalised importance (ties: layer, then head): the order in which the
// pruning curve masks them. Reversed, the decreasing-importance baseline.
std::vector<HeadId> pruning_order(const HeadImportance& importance);

// Heads masked at the points of a pruning curve over `heads` heads: round(heads * k / steps) for
// k = 0..steps (halves up), a count that repeats the previous one skipped; starts at 0 and ends
// at `heads`.
std::vector<std::int64_t> pruning_counts(std::int64_t heads, std::int64_t steps = 10);

struct PruningPoint {
  std::int64_t heads_masked = 0;  // the first heads_masked heads of the order
  double fraction = 0.0;          // heads_masked / N
  EvalMetrics metrics;
};

// Called after each evaluation with a description of what was masked (for progress lines).
using EvaluationCallback =
    std::function<void(const std::string& masked, const EvalMetrics& metrics)>;

// The model evaluated with the first pruning_counts(N) heads of `order` masked, N = the order's
// length (normally every head of the model).
std::vector<PruningPoint> pruning_curve(model::Transformer& model, const tasks::Task& task,
                                        const EvaluationSet& set, const std::vector<HeadId>& order,
                                        const EvaluationCallback& on_evaluation = {});

// The model evaluated with each of `heads` masked alone, in the same order.
std::vector<EvalMetrics> single_head_ablations(model::Transformer& model, const tasks::Task& task,
                                               const EvaluationSet& set,
                                               const std::vector<HeadId>& heads,
                                               const EvaluationCallback& on_evaluation = {});

// The whole experiment of `attnlab ablate`.
struct HeadAblation {
  std::vector<HeadId> heads;                // every head, layer by layer
  HeadImportance importance;                // per layer [H]
  std::vector<HeadId> order;                // by increasing normalised importance
  std::vector<PruningPoint> curve;          // masking in `order`; curve.front(): nothing masked
  std::vector<PruningPoint> reverse_curve;  // masking by decreasing importance (the baseline)
  std::vector<EvalMetrics> single;          // single[i]: heads[i] masked alone

  const EvalMetrics& unmasked() const { return curve.front().metrics; }
  double importance_of(const HeadId& head) const;             // I_h
  double normalised_importance_of(const HeadId& head) const;  // I_h / ||I_layer||_2
};

// Importance (one forward and backward pass over the set), then both pruning curves and every
// single-head ablation: 2 * pruning_counts(N).size() + N evaluations.
HeadAblation ablate_heads(model::Transformer& model, const tasks::Task& task,
                          const EvaluationSet& set, const EvaluationCallback& on_evaluation = {});

}  // namespace attnlab::train
