#include "experiments/model/transformer.h"

#include <cmath>

#include <torch/utils.h>

#include "experiments/model/linear_kernel.h"

namespace attnlab::model {

torch::Tensor sinusoidal_table(std::int64_t length, std::int64_t d_model) {
  auto positions = torch::arange(length, torch::kFloat).unsqueeze(1);              // [T,1]
  auto even = torch::arange(0, d_model, 2, torch::kFloat);                          // [C/2]
  auto frequencies = torch::exp(even * (-std::log(10000.0) / static_cast<double>(d_model)));
  auto angles = positions * frequencies.unsqueeze(0);                               // [T,C/2]
  auto table = torch::zeros({length, d_model});
  table.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, d_model, 2)},
                   torch::sin(angles));
  table.index_put_({torch::indexing::Slice(), torch::indexing::Slice(1, d_model, 2)},
                   torch::cos(angles.index({torch::indexing::Slice(),
                                            torch::indexing::Slice(0, d_model / 2)})));
  return table;
}

const variants::VariantOptions& ModelSpec::variant_for(std::int64_t block) const {
  if (layer_variants.empty()) return variant;
  return layer_variants.at(static_cast<std::size_t>(block)).options;
}

std::string ModelSpec::layer_variant_name(std::int64_t block) const {
  if (layer_variants.empty()) return {};
  return layer_variants.at(static_cast<std::size_t>(block)).name;
}

InputPositionsImpl::InputPositionsImpl(const std::string& kind, std::int64_t max_length,
                                       std::int64_t d_model)
    : kind_(kind), max_length_(max_length), d_model_(d_model) {
  if (kind == "learned") {
    learned_ = register_module("learned", torch::nn::Embedding(max_length, d_model));
  }
}

torch::Tensor InputPositionsImpl::forward(const torch::Tensor& x) {
  const auto length = x.size(1);
  if (learned_) {
    TORCH_CHECK(length <= max_length_, "sequence length ", length, " exceeds the ", max_length_,
                " learned positions of this model");
    return x + learned_->weight.narrow(0, 0, length);
  }
  if (kind_ == "sinusoidal") {
    if (!sinusoidal_.defined() || sinusoidal_.size(0) < length ||
        sinusoidal_.device() != x.device()) {
      sinusoidal_ = sinusoidal_table(std::max(length, max_length_), d_model_).to(x.device());
    }
    return x + sinusoidal_.narrow(0, 0, length).to(x.dtype());
  }
  return x;
}

BlockImpl::BlockImpl(const ModelSpec& spec, std::int64_t first_site, std::int64_t depth,
                     bool causal, bool cross) {
  variants::AttentionSite site;
  site.layer = first_site;
  site.depth = depth;
  site.heads = spec.heads;
  site.head_dim = spec.d_model / spec.heads;
  site.d_model = spec.d_model;
  site.causal = causal;
  const auto norm = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({spec.d_model})); };
  attention_norm_ = register_module("attention_norm", norm());
  const auto& variant = spec.variant_for(depth);
  attention_ = register_module("attention", MultiHeadAttention(spec.d_model, variant, site));
  if (cross) {
    variants::AttentionSite cross_site = site;
    cross_site.layer = first_site + 1;
    cross_site.causal = false;  // every source token is visible to every target position
    cross_site.cross = true;
    cross_norm_ = register_module("cross_norm", norm());
    cross_attention_ = register_module("cross_attention",
                                       MultiHeadAttention(spec.d_model, variant, cross_site));
  }
  if (!spec.attention_only) {
    mlp_norm_ = register_module("mlp_norm", norm());
    const auto hidden = spec.mlp_ratio * spec.d_model;
    mlp_in_ = torch::nn::Linear(spec.d_model, hidden);
    mlp_out_ = torch::nn::Linear(hidden, spec.d_model);
    // A Sequential keeps the parameter names (mlp.0.*, mlp.2.*) that checkpoints and exports use.
    mlp_ = register_module("mlp", torch::nn::Sequential(mlp_in_, torch::nn::GELU(), mlp_out_));
  }
  dropout_ = register_module("dropout", torch::nn::Dropout(spec.dropout));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& memory,
                                 AttentionTap* tap) {
  auto hidden = x + dropout_->forward(attention_->forward(attention_norm_->forward(x), {}, tap));
  if (cross_attention_) {
    hidden = hidden + dropout_->forward(
                          cross_attention_->forward(cross_norm_->forward(hidden), memory, tap));
  }
  if (mlp_) {
    const auto expanded = torch::gelu(apply_linear(mlp_in_, mlp_norm_->forward(hidden)));
    hidden = hidden + dropout_->forward(apply_linear(mlp_out_, expanded));
  }
  return hidden;
}

std::vector<MultiHeadAttention> BlockImpl::attention_modules() const {
  if (cross_attention_) return {attention_, cross_attention_};
  return {attention_};
}

TransformerImpl::TransformerImpl(const ModelSpec& spec) : spec_(spec) {
  token_embedding_ =
      register_module("token_embedding", torch::nn::Embedding(spec.vocab_size, spec.d_model));
  positions_ = register_module("positions",
                               InputPositions(spec.positions, spec.max_length, spec.d_model));
  dropout_ = register_module("dropout", torch::nn::Dropout(spec.dropout));
  std::int64_t site = 0;
  if (spec.has_encoder()) {
    source_positions_ = register_module(
        "source_positions", InputPositions(spec.positions, spec.max_source_length, spec.d_model));
    encoder_blocks_ = register_module("encoder_blocks", torch::nn::ModuleList());
    for (std::int64_t layer = 0; layer < spec.layers; ++layer) {
      encoder_blocks_->push_back(Block(spec, site++, layer, /*causal=*/false, /*cross=*/false));
    }
    encoder_norm_ = register_module(
        "encoder_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({spec.d_model})));
  }
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (std::int64_t layer = 0; layer < spec.layers; ++layer) {
    blocks_->push_back(Block(spec, site, layer, spec.causal(), /*cross=*/spec.has_encoder()));
    site += spec.has_encoder() ? 2 : 1;
  }
  final_norm_ = register_module("final_norm",
                                torch::nn::LayerNorm(torch::nn::LayerNormOptions({spec.d_model})));
  const auto outputs = spec.num_classes > 0 ? spec.num_classes : spec.vocab_size;
  head_ = register_module("head", torch::nn::Linear(spec.d_model, outputs));
  if (spec.init == "gpt2") initialise_weights();
}

void TransformerImpl::initialise_weights() {
  torch::NoGradGuard no_grad;
  // GPT-2 initialisation: N(0, 0.02); residual output projections scaled by 1/sqrt(2 * layers)
  // so the residual stream's variance does not grow with depth.
  const double residual_std = spec_.init_std / std::sqrt(2.0 * static_cast<double>(spec_.layers));
  auto ends_with = [](const std::string& name, const std::string& suffix) {
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  for (auto& named : named_parameters()) {
    const std::string& name = named.key();
    torch::Tensor& parameter = named.value();
    if (name.find("norm") != std::string::npos) continue;  // LayerNorm keeps weight 1, bias 0
    if (ends_with(name, "bias")) {
      parameter.zero_();
    } else if (ends_with(name, "attention.output.weight") || ends_with(name, "mlp.2.weight")) {
      parameter.normal_(0.0, residual_std);
    } else {
      parameter.normal_(0.0, spec_.init_std);
    }
  }
}

torch::Tensor TransformerImpl::encode(const torch::Tensor& source, AttentionTap* tap) {
  auto memory = dropout_->forward(source_positions_->forward(token_embedding_->forward(source)));
  for (const auto& block : *encoder_blocks_) memory = block->as<Block>()->forward(memory, {}, tap);
  return encoder_norm_->forward(memory);  // [B,S,C]
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& tokens, AttentionTap* tap,
                                       const torch::Tensor& source) {
  TORCH_CHECK(source.defined() == spec_.has_encoder(),
              spec_.has_encoder() ? "an encoder-decoder model needs source tokens"
                                  : "this model has no encoder for source tokens");
  const torch::Tensor memory = spec_.has_encoder() ? encode(source, tap) : torch::Tensor();
  auto x = dropout_->forward(positions_->forward(token_embedding_->forward(tokens)));  // [B,T,C]
  for (const auto& block : *blocks_) x = block->as<Block>()->forward(x, memory, tap);
  x = final_norm_->forward(x);
  if (spec_.num_classes > 0) {  // [B,C]: one vector per sequence
    x = spec_.pooling == "cls" ? x.select(/*dim=*/1, /*index=*/0) : x.mean(/*dim=*/1);
  }
  return apply_linear(head_, x);
}

std::int64_t TransformerImpl::parameter_count() const {
  std::int64_t count = 0;
  for (const auto& parameter : parameters()) count += parameter.numel();
  return count;
}

std::vector<MultiHeadAttention> TransformerImpl::attention_layers() const {
  std::vector<MultiHeadAttention> layers;
  for (const auto* stack : {&encoder_blocks_, &blocks_}) {
    if (!*stack) continue;
    for (const auto& block : **stack) {
      for (auto& module : block->as<Block>()->attention_modules()) layers.push_back(module);
    }
  }
  return layers;
}

}  // namespace attnlab::model
