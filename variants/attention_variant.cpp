#include "variants/attention_variant.h"

#include "variants/chunked_attention.h"

#include <algorithm>
#include <limits>
#include <set>
#include <sstream>

namespace attnlab::variants {

namespace {

template <typename RegistryType>
const typename RegistryType::Entry& chosen(const RegistryType& registry,
                                           const VariantOptions& options) {
  return registry.at(options.get_string(registry.kind()));
}

std::string format_value(const OptionValue& value) {
  std::ostringstream out;
  std::visit(
      [&out](const auto& held) {
        using Held = std::decay_t<decltype(held)>;
        if constexpr (std::is_same_v<Held, bool>) {
          out << (held ? "true" : "false");
        } else if constexpr (std::is_same_v<Held, std::string>) {
          out << '"' << held << '"';
        } else {
          out << held;
        }
      },
      value);
  return out.str();
}

template <typename RegistryType>
void describe_registry(const RegistryType& registry, std::ostringstream& out) {
  out << registry.kind() << "s (variant." << registry.kind() << "):\n";
  for (const auto* entry : registry.entries()) {
    out << "  " << entry->name << ": " << entry->description << "\n";
    for (const auto& option : entry->options) {
      out << "      variant." << option.name << " = " << format_value(option.default_value) << "  "
          << option.doc << "\n";
    }
  }
}

}  // namespace

ScoreRegistry& score_registry() {
  static ScoreRegistry registry("score", "variant.score");
  return registry;
}
PositionRegistry& position_registry() {
  static PositionRegistry registry("position", "variant.position");
  return registry;
}
PatternRegistry& pattern_registry() {
  static PatternRegistry registry("pattern", "variant.pattern");
  return registry;
}

AttentionVariantImpl::AttentionVariantImpl(const VariantOptions& options,
                                           const AttentionSite& site)
    : site_(site),
      chunk_(options.get_int("chunk")),
      materialise_max_(options.get_int("materialise_max")) {
  validate(options);
  score_ = register_module("score", chosen(score_registry(), options).make(options, site));
  position_ =
      register_module("position", chosen(position_registry(), options).make(options, site));
  pattern_ = chosen(pattern_registry(), options).make(options, site);
}

bool AttentionVariantImpl::fused_parts() const {
  return score_->is_scaled_dot() && !pattern_->depends_on_scores() && !has_trainable_position();
}

bool AttentionVariantImpl::has_trainable_position() const {
  for (const auto& parameter : position_->parameters()) {
    if (parameter.requires_grad()) return true;
  }
  return false;
}

torch::Tensor AttentionVariantImpl::allowed(std::int64_t query_length, std::int64_t key_length) {
  const auto shape = std::make_pair(query_length, key_length);
  auto cached = allowed_cache_.find(shape);
  if (cached != allowed_cache_.end()) return cached->second;
  torch::Tensor mask = pattern_->allowed(query_length, key_length, site_.causal);
  allowed_cache_.emplace(shape, mask);
  return mask;
}

std::shared_ptr<const BlockLayout> AttentionVariantImpl::layout(std::int64_t query_length,
                                                                std::int64_t key_length,
                                                                const torch::Device& device) {
  const auto shape = std::make_pair(query_length, key_length);
  auto cached = layout_cache_.find(shape);
  if (cached == layout_cache_.end()) {
    pattern_->check_lengths(query_length, key_length);
    CachedLayout built{std::make_shared<const BlockLayout>(
                           pattern_->layout(query_length, key_length, site_.causal, chunk_)),
                       torch::kCPU};
    cached = layout_cache_.emplace(shape, std::move(built)).first;
  }
  // Kept on the device the variant last ran on, so a CUDA run moves it once.
  if (cached->second.device != device) {
    cached->second = {std::make_shared<const BlockLayout>(layout_on(*cached->second.layout, device)),
                      device};
  }
  return cached->second.layout;
}

AttentionOutput AttentionVariantImpl::forward_plain(const torch::Tensor& q, const torch::Tensor& k,
                                                   const torch::Tensor& v) {
  const std::int64_t query_length = q.size(2);
  const std::int64_t key_length = k.size(2);
  pattern_->check_lengths(query_length, key_length);
  auto [rotated_q, rotated_k] = position_->rotate(q, k);
  torch::Tensor scores = score_->scores(rotated_q, rotated_k);  // [B,H,Tq,Tk]
  torch::Tensor bias = position_->bias(query_length, key_length, scores.options());
  if (bias.defined()) scores = scores + bias;
  torch::Tensor mask = allowed(query_length, key_length);  // [1|H,Tq,Tk]
  if (mask.defined()) {
    mask = mask.to(scores.device());
    scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity());
  }
  if (pattern_->depends_on_scores()) scores = pattern_->restrict_scores(scores);
  torch::Tensor probs = torch::softmax(scores, /*dim=*/-1);
  if (mask.defined()) {
    // A query with no allowed key (possible in some sparse cross layouts) attends to nothing
    // instead of producing NaN.
    probs = probs.masked_fill(mask.logical_not(), 0.0);
  }
  return {torch::matmul(probs, v), probs};
}

bool AttentionVariantImpl::uses_chunked_path(std::int64_t query_length,
                                             std::int64_t key_length) const {
  // Up to materialise_max (and one tile) the materialised paths are faster: at T = 256 the fused
  // path trained the bench's medium model 1.2x faster than the chunked path (`attnlab bench
  // train`); beyond, the T x T probabilities kept for the backward pass cost the memory.
  const std::int64_t materialised = std::max(chunk_, materialise_max_);
  if (query_length <= materialised && key_length <= materialised) return false;
  if (pattern_->depends_on_scores() && pattern_->keep_largest() == 0) return false;
  // The chunked path treats position biases as constants; a trainable one needs autograd.
  return !has_trainable_position();
}

torch::Tensor AttentionVariantImpl::forward_chunked(const torch::Tensor& q, const torch::Tensor& k,
                                                    const torch::Tensor& v) {
  if (pattern_->depends_on_scores() && pattern_->keep_largest() == 0) {
    throw VariantError("variant.pattern: this score-dependent pattern has no chunked path");
  }
  auto [rotated_q, rotated_k] = position_->rotate(q, k);  // [B,H,Tq,D], [B,H,Tk,D]
  return chunked_attention(rotated_q, rotated_k, v, score_, position_,
                           layout(q.size(2), k.size(2), q.device()),
                           pattern_->keep_largest());  // [B,H,Tq,D]
}

bool AttentionVariantImpl::uses_fused_path(const torch::Tensor& q, const torch::Tensor& k,
                                           const torch::Tensor& v) const {
  return fused_parts() && fused_attention_supports(q, k, v);
}

torch::Tensor AttentionVariantImpl::forward_fused(const torch::Tensor& q, const torch::Tensor& k,
                                                  const torch::Tensor& v) {
  if (!uses_fused_path(q, k, v)) return forward_plain(q, k, v).out;
  const std::int64_t query_length = q.size(2), key_length = k.size(2);
  pattern_->check_lengths(query_length, key_length);
  const auto& mask = additive_mask(query_length, key_length, q.options());
  auto [rotated_q, rotated_k] = position_->rotate(q, k);
  return fused_dot_attention(rotated_q, rotated_k, v, score_->dot_scale(), mask);
}

const AdditiveMask& AttentionVariantImpl::additive_mask(std::int64_t query_length,
                                                        std::int64_t key_length,
                                                        const torch::TensorOptions& options) {
  const auto shape = std::make_pair(query_length, key_length);
  auto cached = additive_cache_.find(shape);
  if (cached == additive_cache_.end()) {
    torch::NoGradGuard no_grad;
    const auto bias = position_->bias(query_length, key_length, options);
    cached = additive_cache_
                 .emplace(shape, make_additive_mask(allowed(query_length, key_length), bias))
                 .first;
  }
  return cached->second;
}

std::int64_t AttentionVariantImpl::fused_kept_probabilities(std::int64_t query_length,
                                                            std::int64_t key_length) {
  pattern_->check_lengths(query_length, key_length);
  const auto& mask = additive_mask(query_length, key_length, torch::TensorOptions(torch::kFloat));
  return variants::fused_kept_probabilities(mask, site_.heads, query_length, key_length);
}

AttentionPath AttentionVariantImpl::path_for(std::int64_t query_length, std::int64_t key_length,
                                             const torch::TensorOptions& inputs) const {
  if (uses_chunked_path(query_length, key_length)) return AttentionPath::Chunked;
  return fused_parts() && fused_attention_supports(inputs) ? AttentionPath::Fused
                                                          : AttentionPath::Plain;
}

AttentionOutput AttentionVariantImpl::forward(const torch::Tensor& q, const torch::Tensor& k,
                                              const torch::Tensor& v, bool need_probs) {
  if (!need_probs) {
    switch (path_for(q.size(2), k.size(2), q.options())) {
      case AttentionPath::Chunked: return {forward_chunked(q, k, v), torch::Tensor()};
      case AttentionPath::Fused: return {forward_fused(q, k, v), torch::Tensor()};
      case AttentionPath::Plain: return {forward_plain(q, k, v).out, torch::Tensor()};
    }
  }
  return forward_plain(q, k, v);
}

const char* path_name(AttentionPath path) {
  switch (path) {
    case AttentionPath::Plain: return "plain";
    case AttentionPath::Fused: return "fused";
    case AttentionPath::Chunked: return "chunked";
  }
  return "?";
}

std::vector<OptionSpec> all_option_specs() {
  std::vector<OptionSpec> specs;
  auto names_of = [](const auto& registry) {
    std::vector<std::string> names;
    for (const auto* entry : registry.entries()) names.push_back(entry->name);
    return names;
  };
  specs.push_back({"score", std::string("scaled"), "how queries and keys are compared", {}, false,
                   {}, names_of(score_registry())});
  specs.push_back({"position", std::string("none"),
                   "positions inside attention (input positions are model.positions)", {}, false,
                   {}, names_of(position_registry())});
  specs.push_back({"pattern", std::string("full"), "which keys each query may attend to", {},
                   false, {}, names_of(pattern_registry())});
  specs.push_back({"chunk", std::int64_t{128},
                   "tile side of the chunked path used when no probabilities are recorded "
                   "(memory vs speed; results agree with the plain path to rounding)",
                   /*min=*/1.0});
  specs.push_back({"materialise_max", std::int64_t{256},
                   "longest query or key length whose scores are materialised when no "
                   "probabilities are recorded (on the CPU: the fused head-by-head path); longer "
                   "sequences take the chunked path, whose memory grows as T, not T^2",
                   /*min=*/0.0});
  constexpr std::size_t kEngineOptions = 5;  // score, position, pattern, chunk, materialise_max
  std::set<std::string> seen = {"score", "position", "pattern", "chunk", "materialise_max"};
  auto collect = [&](const auto& registry) {
    for (const auto* entry : registry.entries()) {
      for (const auto& option : entry->options) {
        if (seen.insert(option.name).second) specs.push_back(option);
      }
    }
  };
  collect(score_registry());
  collect(position_registry());
  collect(pattern_registry());
  std::sort(specs.begin() + kEngineOptions, specs.end(),
            [](const OptionSpec& a, const OptionSpec& b) { return a.name < b.name; });
  return specs;
}

void validate(const VariantOptions& options) {
  const auto& score = chosen(score_registry(), options);
  const auto& position = chosen(position_registry(), options);
  const auto& pattern = chosen(pattern_registry(), options);
  std::set<std::string> traits;
  for (const auto* entry : {&score.traits, &position.traits, &pattern.traits}) {
    traits.insert(entry->begin(), entry->end());
  }
  auto check = [&](const auto& entry, const std::string& kind) {
    for (const auto& needed : entry.requires_traits) {
      if (traits.count(needed) == 0) {
        throw VariantError("variant." + kind + ": '" + entry.name + "' needs a " + needed +
                           " score, but variant.score is '" + score.name +
                           "'; choose another variant." + kind + " or variant.score");
      }
    }
  };
  check(position, "position");
  check(pattern, "pattern");
}

void validate_lengths(const VariantOptions& options, const AttentionSite& site,
                      std::int64_t query_length, std::int64_t key_length) {
  chosen(pattern_registry(), options).make(options, site)->check_lengths(query_length, key_length);
}

std::string describe_registered() {
  std::ostringstream out;
  describe_registry(score_registry(), out);
  out << "\n";
  describe_registry(position_registry(), out);
  out << "\n";
  describe_registry(pattern_registry(), out);
  out << "\nevery variant:\n";
  for (const auto& option : all_option_specs()) {
    if (option.name != "chunk" && option.name != "materialise_max") continue;
    out << "      variant." << option.name << " = " << format_value(option.default_value) << "  "
        << option.doc << "\n";
  }
  return out.str();
}

}  // namespace attnlab::variants
