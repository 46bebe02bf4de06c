#include "experiments/train/head_ablation.h"

#include <algorithm>
#include <stdexcept>
#include <tuple>

#include <fmt/core.h>
#include <torch/utils.h>

namespace attnlab::train {

std::string head_name(const HeadId& head) {
  return fmt::format("layer {} head {}", head.layer, head.head);
}

std::vector<HeadId> all_heads(const model::Transformer& model) {
  std::vector<HeadId> heads;
  const auto layers = model->attention_layers();
  for (std::size_t layer = 0; layer < layers.size(); ++layer) {
    for (std::int64_t head = 0; head < layers[layer]->heads(); ++head) {
      heads.push_back({static_cast<std::int64_t>(layer), head});
    }
  }
  return heads;
}

HeadMask::HeadMask(const model::Transformer& model, const std::vector<HeadId>& masked)
    : layers_(model->attention_layers()) {
  std::vector<torch::Tensor> gates;
  for (const auto& layer : layers_) {
    const auto& weight = layer->output_projection()->weight;
    gates.push_back(torch::ones({layer->heads()}, weight.options().requires_grad(false)));  // [H]
  }
  for (const auto& head : masked) {
    if (head.layer < 0 || head.layer >= static_cast<std::int64_t>(layers_.size()) ||
        head.head < 0 || head.head >= layers_[static_cast<std::size_t>(head.layer)]->heads()) {
      throw std::out_of_range("no attention " + head_name(head) + " in this model");
    }
    gates[static_cast<std::size_t>(head.layer)].narrow(0, head.head, 1).fill_(0.0);
  }
  for (std::size_t layer = 0; layer < layers_.size(); ++layer) {
    layers_[layer]->set_head_gate(gates[layer]);
  }
}

HeadMask::~HeadMask() {
  for (auto& layer : layers_) layer->set_head_gate(torch::Tensor());
}

EvalMetrics evaluate_masked(model::Transformer& model, const tasks::Task& task,
                            const EvaluationSet& set, const std::vector<HeadId>& masked) {
  const HeadMask mask(model, masked);
  return evaluate(model, task, set.split, set.batch_size, set.device, set.max_examples);
}

HeadImportance head_importance(model::Transformer& model, const tasks::Task& task,
                               const EvaluationSet& set) {
  return head_importance(model, task, set.split, set.batch_size, set.max_examples, set.device);
}

std::vector<HeadId> pruning_order(const HeadImportance& importance) {
  struct Ranked {
    double importance;
    HeadId head;
  };
  std::vector<Ranked> ranked;
  for (std::size_t layer = 0; layer < importance.normalised.size(); ++layer) {
    const auto values = importance.normalised[layer].to(torch::kCPU, torch::kDouble).contiguous();
    for (std::int64_t head = 0; head < values.numel(); ++head) {
      ranked.push_back({values.data_ptr<double>()[head], {static_cast<std::int64_t>(layer), head}});
    }
  }
  std::sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
    return std::tie(a.importance, a.head.layer, a.head.head) <
           std::tie(b.importance, b.head.layer, b.head.head);
  });
  std::vector<HeadId> order;
  for (const auto& entry : ranked) order.push_back(entry.head);
  return order;
}

std::vector<std::int64_t> pruning_counts(std::int64_t heads, std::int64_t steps) {
  if (heads < 0 || steps < 1) {
    throw std::invalid_argument(fmt::format("pruning_counts({}, {})", heads, steps));
  }
  std::vector<std::int64_t> counts;
  for (std::int64_t step = 0; step <= steps; ++step) {
    const auto count = (2 * heads * step + steps) / (2 * steps);  // round(heads * step / steps)
    if (counts.empty() || count != counts.back()) counts.push_back(count);
  }
  return counts;
}

std::vector<PruningPoint> pruning_curve(model::Transformer& model, const tasks::Task& task,
                                        const EvaluationSet& set, const std::vector<HeadId>& order,
                                        const EvaluationCallback& on_evaluation) {
  const auto total = static_cast<std::int64_t>(order.size());
  std::vector<PruningPoint> curve;
  for (const auto count : pruning_counts(total)) {
    const std::vector<HeadId> masked(order.begin(), order.begin() + count);
    PruningPoint point;
    point.heads_masked = count;
    point.fraction = total > 0 ? static_cast<double>(count) / static_cast<double>(total) : 0.0;
    point.metrics = evaluate_masked(model, task, set, masked);
    if (on_evaluation) {
      on_evaluation(fmt::format("{} of {} heads", count, total), point.metrics);
    }
    curve.push_back(std::move(point));
  }
  return curve;
}

std::vector<EvalMetrics> single_head_ablations(model::Transformer& model, const tasks::Task& task,
                                               const EvaluationSet& set,
                                               const std::vector<HeadId>& heads,
                                               const EvaluationCallback& on_evaluation) {
  std::vector<EvalMetrics> results;
  for (const auto& head : heads) {
    results.push_back(evaluate_masked(model, task, set, {head}));
    if (on_evaluation) on_evaluation(head_name(head), results.back());
  }
  return results;
}

double HeadAblation::importance_of(const HeadId& head) const {
  return importance.raw.at(static_cast<std::size_t>(head.layer))[head.head].item<double>();
}

double HeadAblation::normalised_importance_of(const HeadId& head) const {
  return importance.normalised.at(static_cast<std::size_t>(head.layer))[head.head].item<double>();
}

HeadAblation ablate_heads(model::Transformer& model, const tasks::Task& task,
                          const EvaluationSet& set, const EvaluationCallback& on_evaluation) {
  HeadAblation ablation;
  ablation.heads = all_heads(model);
  ablation.importance = head_importance(model, task, set);
  ablation.order = pruning_order(ablation.importance);
  ablation.curve = pruning_curve(model, task, set, ablation.order, on_evaluation);
  const std::vector<HeadId> reverse(ablation.order.rbegin(), ablation.order.rend());
  ablation.reverse_curve = pruning_curve(model, task, set, reverse, on_evaluation);
  ablation.single = single_head_ablations(model, task, set, ablation.heads, on_evaluation);
  return ablation;
}

}  // namespace attnlab::train
