#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "variants/parts.h"

namespace attnlab::variants {

const OptionValue& VariantOptions::at(const std::string& name) const {
  auto found = values_.find(name);
  if (found == values_.end()) throw VariantError("variant." + name + ": option not set");
  return found->second;
}

std::int64_t VariantOptions::get_int(const std::string& name) const {
  return std::get<std::int64_t>(at(name));
}

double VariantOptions::get_float(const std::string& name) const {
  const OptionValue& value = at(name);
  if (const auto* integer = std::get_if<std::int64_t>(&value)) return static_cast<double>(*integer);
  return std::get<double>(value);
}

bool VariantOptions::get_bool(const std::string& name) const { return std::get<bool>(at(name)); }

const std::string& VariantOptions::get_string(const std::string& name) const {
  return std::get<std::string>(at(name));
}

torch::Tensor relative_positions(std::int64_t query_length, std::int64_t key_length) {
  const std::int64_t offset = key_length - query_length;
  auto query_positions = torch::arange(offset, offset + query_length, torch::kLong).unsqueeze(1);
  auto key_positions = torch::arange(key_length, torch::kLong).unsqueeze(0);
  return key_positions - query_positions;  // [Tq, Tk]
}

Score::Gradients Score::tile_gradients(const torch::Tensor& q, const torch::Tensor& k,
                                       const torch::Tensor& grad_scores) {
  torch::AutoGradMode enable_grad(/*enabled=*/true);
  auto q_leaf = q.detach().requires_grad_(true);  // [B,H,Nq,D]
  auto k_leaf = k.detach().requires_grad_(true);  // [B,H,L,D]
  std::vector<torch::Tensor> inputs = {q_leaf, k_leaf};
  const auto own_parameters = parameters();
  for (const auto& parameter : own_parameters) {
    if (parameter.requires_grad()) inputs.push_back(parameter);
  }
  auto tile = scores(q_leaf, k_leaf);  // [B,H,Nq,L]
  auto grads = torch::autograd::grad({tile}, inputs, {grad_scores}, /*retain_graph=*/false,
                                     /*create_graph=*/false, /*allow_unused=*/true);
  Gradients result{grads[0], grads[1], {}};
  std::size_t next = 2;
  for (const auto& parameter : own_parameters) {
    result.parameters.push_back(parameter.requires_grad() ? grads[next++] : torch::Tensor());
  }
  return result;
}

std::pair<torch::Tensor, torch::Tensor> Score::features(const torch::Tensor&, const torch::Tensor&) {
  throw VariantError("variant.score: only a kernel score has features (variant.score = kernel)");
}

torch::Tensor Position::bias(std::int64_t query_length, std::int64_t key_length,
                             const torch::TensorOptions& options) {
  const std::int64_t offset = key_length - query_length;
  return bias_at(torch::arange(offset, offset + query_length, torch::kLong),       // [Tq]
                 torch::arange(key_length, torch::kLong).unsqueeze(0), options);  // [1,Tk]
}

torch::Tensor Position::reference_bias(std::int64_t query_length, std::int64_t key_length) const {
  return torch::zeros({1, query_length, key_length}, torch::kDouble);  // [1,Tq,Tk]
}

BlockLayout Pattern::layout(std::int64_t query_length, std::int64_t key_length, bool causal,
                            std::int64_t chunk) const {
  const torch::Tensor mask = allowed(query_length, key_length, causal);  // [1|H,Tq,Tk]
  if (!mask.defined()) return dense_layout(query_length, key_length, /*causal=*/false, chunk);
  return layout_from_allowed(mask, chunk);
}

torch::Tensor causal_allowed(std::int64_t query_length, std::int64_t key_length) {
  return relative_positions(query_length, key_length).le(0);
}

torch::Tensor allowed_pairs(std::int64_t heads, std::int64_t query_length, std::int64_t key_length,
                            bool causal, const PairRule& is_open) {
  auto allowed = torch::zeros({heads, query_length, key_length}, torch::kBool);  // [H,Tq,Tk]
  auto cells = allowed.accessor<bool, 3>();
  for (std::int64_t head = 0; head < heads; ++head) {
    for (std::int64_t i = 0; i < query_length; ++i) {
      const std::int64_t position = i + key_length - query_length;
      for (std::int64_t j = 0; j < key_length; ++j) {
        cells[head][i][j] = (!is_open || is_open(head, position, j)) && !(causal && j > position);
      }
    }
  }
  return allowed;
}

}  // namespace attnlab::variants
