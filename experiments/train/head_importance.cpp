#include "experiments/model/eval_mode.h"
#include "experiments/train/head_importance.h"

#include <algorithm>

#include <torch/csrc/autograd/autograd.h>
#include <torch/utils.h>

#include "experiments/train/objective.h"

namespace attnlab::train {

HeadGates::HeadGates(const std::vector<model::MultiHeadAttention>& layers,
                     std::int64_t examples, const torch::Device& device)
    : layers_(layers) {
  for (auto& layer : layers_) {
    gates_.push_back(torch::ones({examples, layer->heads()},
                                 torch::TensorOptions(device).requires_grad(true)));  // [B,H]
    layer->set_head_gate(gates_.back());
  }
}

HeadGates::~HeadGates() {
  for (auto& layer : layers_) layer->set_head_gate(torch::Tensor());
}

torch::Tensor example_weights(const torch::Tensor& targets) {
  const auto examples = targets.size(0);
  const auto scored = targets.dim() == 1
                          ? torch::ones({examples}, torch::kDouble)
                          : targets.ne(tasks::kIgnore).sum(1).to(torch::kCPU, torch::kDouble);
  return torch::where(scored.gt(0), scored.sum() / scored.clamp_min(1.0),
                      torch::zeros_like(scored));  // [B]
}

std::vector<torch::Tensor> gate_gradient_sums(const torch::Tensor& loss, const HeadGates& gates,
                                              const torch::Tensor& weights) {
  const auto gradients = torch::autograd::grad({loss}, gates.gates(), /*grad_outputs=*/{},
                                               /*retain_graph=*/false, /*create_graph=*/false,
                                               /*allow_unused=*/true);
  std::vector<torch::Tensor> sums;
  for (std::size_t layer = 0; layer < gradients.size(); ++layer) {
    if (!gradients[layer].defined()) {
      sums.push_back(torch::zeros({gates.gates()[layer].size(1)}, torch::kDouble));
      continue;
    }
    const auto per_example = gradients[layer].to(torch::kCPU, torch::kDouble).abs() *
                             weights.unsqueeze(1);  // [B,H]: |dL(x)/d xi_h|
    sums.push_back(per_example.sum(0));             // [H]
  }
  return sums;
}

torch::Tensor normalise_importance(const torch::Tensor& raw) {
  const auto norm = raw.norm().item<double>();
  return norm > 0.0 ? raw / norm : torch::zeros_like(raw);  // [H]
}

HeadImportance head_importance(model::Transformer& model, const tasks::Task& task,
                               tasks::Split split, std::int64_t batch_size,
                               std::int64_t max_examples, const torch::Device& device) {
  TORCH_CHECK(batch_size > 0, "head_importance: batch size must be positive, got ", batch_size);
  model::EvalMode eval(model);
  torch::AutoGradMode grad_mode(/*enabled=*/true);
  auto layers = model->attention_layers();
  std::vector<torch::Tensor> sums;
  for (const auto& layer : layers) sums.push_back(torch::zeros({layer->heads()}, torch::kDouble));
  const auto size = task.split_size(split);
  const auto total = max_examples > 0 ? std::min(max_examples, size) : size;
  HeadImportance importance;
  for (std::int64_t first = 0; first < total; first += batch_size) {
    const auto count = std::min(batch_size, total - first);
    const tasks::Batch batch = task.examples(split, first, count);
    const auto weights = example_weights(batch.targets);  // [B]
    const auto scored_examples = weights.gt(0).sum().item<std::int64_t>();
    if (scored_examples == 0) continue;  // no loss to differentiate
    HeadGates gates(layers, count, device);
    const auto logits = model->forward(batch.inputs.to(device), /*tap=*/nullptr,
                                       batch.source.defined() ? batch.source.to(device)
                                                              : batch.source);
    const auto loss = objective(logits, batch.targets.to(device)).loss;
    const auto batch_sums = gate_gradient_sums(loss, gates, weights);
    for (std::size_t layer = 0; layer < layers.size(); ++layer) sums[layer] += batch_sums[layer];
    importance.examples += scored_examples;
  }
  for (auto& sum : sums) {
    importance.raw.push_back(sum / static_cast<double>(std::max<std::int64_t>(1, importance.examples)));
    importance.normalised.push_back(normalise_importance(importance.raw.back()));
  }
  return importance;
}

}  // namespace attnlab::train
