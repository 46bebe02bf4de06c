#include "variants/attention_variant.h"

#include "variants/chunked_attention.h"
#include "variants/linear_attention.h"
#include "variants/softcap.h"

#include <algorithm>
#include <cmath>
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

torch::Tensor expand_kv_heads(const torch::Tensor& x, std::int64_t heads) {
  const auto kv_heads = x.size(1);
  if (kv_heads == heads) return x;
  const auto group = heads / kv_heads;
  return x.unsqueeze(2)
      .expand({x.size(0), kv_heads, group, x.size(2), x.size(3)})
      .reshape({x.size(0), heads, x.size(2), x.size(3)});
}

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
QueryKeyNormRegistry& qk_norm_registry() {
  static QueryKeyNormRegistry registry("qk_norm", "variant.qk_norm");
  return registry;
}
NormaliserRegistry& normaliser_registry() {
  static NormaliserRegistry registry("normaliser", "variant.normaliser");
  return registry;
}
MixerRegistry& mixer_registry() {
  static MixerRegistry registry("mixer", "variant.mixer");
  return registry;
}
OutputGateRegistry& gate_registry() {
  static OutputGateRegistry registry("gate", "variant.gate");
  return registry;
}
FeatureMapRegistry& feature_map_registry() {
  static FeatureMapRegistry registry("feature_map", "variant.feature_map");
  return registry;
}

namespace {

// Parts of the stages that older variants did not have are registered as submodules only when
// they hold parameters, so that checkpoints saved before those stages existed still load.
template <typename Part>
std::shared_ptr<Part> keep_part(torch::nn::Module& owner, const std::string& name,
                                std::shared_ptr<Part> part) {
  if (!part->parameters().empty()) owner.register_module(name, part);
  return part;
}

void check_kv_heads(const VariantOptions& options, std::int64_t heads) {
  const auto kv_heads = options.get_int("kv_heads");
  if (kv_heads > heads || (kv_heads > 0 && heads % kv_heads != 0)) {
    throw VariantError("variant.kv_heads = " + std::to_string(kv_heads) +
                       " must divide model.heads = " + std::to_string(heads) +
                       " (each key/value head serves heads / kv_heads query heads)");
  }
}

}  // namespace

AttentionVariantImpl::AttentionVariantImpl(const VariantOptions& options,
                                           const AttentionSite& site)
    : site_(site),
      chunk_(options.get_int("chunk")),
      materialise_max_(options.get_int("materialise_max")),
      softcap_(options.get_float("softcap")) {
  validate(options);
  check_kv_heads(options, site.heads);
  // From here each part's factory refuses what it cannot build, naming its key.
  const auto kv_heads = options.get_int("kv_heads");
  site_.kv_heads = kv_heads == 0 ? site.heads : kv_heads;
  if (site_.d_model == 0) site_.d_model = site.heads * site.head_dim;
  auto mixer = chosen(mixer_registry(), options).make(options, site_);
  // Each map's q and k: differential attention's halves are what its score, norm and rotations see.
  AttentionSite map_site = site_;
  map_site.head_dim = mixer->score_dim(site.head_dim);
  score_ = register_module("score", chosen(score_registry(), options).make(options, map_site));
  position_ =
      register_module("position", chosen(position_registry(), options).make(options, map_site));
  pattern_ = chosen(pattern_registry(), options).make(options, site_);
  qk_norm_ =
      keep_part(*this, "qk_norm", chosen(qk_norm_registry(), options).make(options, map_site));
  normaliser_ =
      keep_part(*this, "normaliser", chosen(normaliser_registry(), options).make(options, site_));
  mixer_ = keep_part(*this, "mixer", std::move(mixer));
  gate_ = keep_part(*this, "gate", chosen(gate_registry(), options).make(options, site_));
}

bool AttentionVariantImpl::chunked_parts() const {
  if (pattern_->depends_on_scores() && pattern_->keep_largest() == 0) return false;
  // The chunked path treats position biases as constants; a trainable one needs autograd.
  return mixer_->single_map() && normaliser_->is_softmax() && !has_trainable_position();
}

bool AttentionVariantImpl::fused_parts() const {
  return score_->is_scaled_dot() && !pattern_->depends_on_scores() && !has_trainable_position() &&
         mixer_->single_map() && normaliser_->is_softmax();
}

bool AttentionVariantImpl::linear_parts() const {
  return score_->is_kernel() && normaliser_->is_linear() && pattern_->is_full() &&
         !position_->adds_bias() && std::isinf(softcap_) && mixer_->single_map();
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

std::vector<std::pair<torch::Tensor, torch::Tensor>> AttentionVariantImpl::prepare(
    const torch::Tensor& q, const torch::Tensor& k) {
  score_->begin_pass();
  auto pairs = mixer_->split(q, k);
  for (auto& [q_c, k_c] : pairs) {
    std::tie(q_c, k_c) = qk_norm_->normalise(q_c, k_c);
    std::tie(q_c, k_c) = position_->rotate(q_c, k_c);
  }
  return pairs;  // (q_c [B,H,Tq,d], k_c [B,G,Tk,d]) per map
}

AttentionOutput AttentionVariantImpl::forward_plain(const torch::Tensor& q, const torch::Tensor& k,
                                                   const torch::Tensor& v,
                                                   const torch::Tensor& x) {
  const std::int64_t query_length = q.size(2);
  const std::int64_t key_length = k.size(2);
  pattern_->check_lengths(query_length, key_length);
  torch::Tensor mask = allowed(query_length, key_length);  // [1|H,Tq,Tk]
  if (mask.defined()) mask = mask.to(q.device());
  std::vector<torch::Tensor> maps;
  for (const auto& [q_c, k_c] : prepare(q, k)) {
    torch::Tensor scores =
        soft_cap(score_->scores(q_c, expand_kv_heads(k_c, site_.heads)), softcap_);  // [B,H,Tq,Tk]
    torch::Tensor bias = position_->bias(query_length, key_length, scores.options());
    if (bias.defined()) scores = scores + bias;
    if (mask.defined()) {
      scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity());
    }
    if (pattern_->depends_on_scores()) scores = pattern_->restrict_scores(scores);
    maps.push_back(normaliser_->normalise(scores));
  }
  torch::Tensor map = mixer_->combine(maps);  // [B,H,Tq,Tk]
  auto attended = torch::matmul(map, expand_kv_heads(v, site_.heads));
  auto out = mixer_->finish(normaliser_->normalise_output(attended));
  return {gate_->apply(x, out), map};
}

bool AttentionVariantImpl::uses_chunked_path(std::int64_t query_length,
                                             std::int64_t key_length) const {
  // Up to materialise_max (and one tile) the materialised paths are faster: at T = 256 the fused
  // path trained the bench's medium model 1.2x faster than the chunked path (`attnlab bench
  // train`); beyond, the T x T probabilities kept for the backward pass cost the memory.
  const std::int64_t materialised = std::max(chunk_, materialise_max_);
  if (query_length <= materialised && key_length <= materialised) return false;
  return chunked_parts();
}

torch::Tensor AttentionVariantImpl::forward_chunked(const torch::Tensor& q, const torch::Tensor& k,
                                                    const torch::Tensor& v,
                                                    const torch::Tensor& x) {
  if (!chunked_parts()) {
    throw VariantError("variant.pattern, variant.normaliser, variant.mixer: this combination of "
                       "parts has no chunked path");
  }
  auto [rotated_q, rotated_k] = prepare(q, k).front();  // [B,H,Tq,D], [B,G,Tk,D]
  return gate_->apply(x, chunked_out(rotated_q, rotated_k, v));
}

torch::Tensor AttentionVariantImpl::chunked_out(const torch::Tensor& q, const torch::Tensor& k,
                                                const torch::Tensor& v) {
  // k and v are expanded to H heads here, outside the kernel's autograd function (whose
  // gradients are summed back over each group by the expansion's own backward): the tiles address
  // keys per head (the sparse patterns' per-head indices), and the copy costs what q does, little
  // beside the tiles' work.
  return chunked_attention(q, expand_kv_heads(k, site_.heads), expand_kv_heads(v, site_.heads),
                           score_, position_, layout(q.size(2), k.size(2), q.device()),
                           pattern_->keep_largest(), softcap_,
                           normaliser_->sink_logits());  // [B,H,Tq,D]
}

torch::Tensor AttentionVariantImpl::forward_linear(const torch::Tensor& q, const torch::Tensor& k,
                                                   const torch::Tensor& v,
                                                   const torch::Tensor& x) {
  if (!linear_parts()) {
    throw VariantError("variant.score, variant.normaliser, variant.pattern: only a kernel score "
                       "with the linear normaliser over the full pattern has a linear path");
  }
  if (site_.causal && q.size(2) != k.size(2)) {
    throw VariantError("the causal linear path needs as many queries as keys");
  }
  auto [rotated_q, rotated_k] = prepare(q, k).front();  // [B,H,Tq,d], [B,G,Tk,d]
  auto [query_features, key_features] = score_->features(rotated_q, rotated_k);
  auto out = linear_attention(query_features, expand_kv_heads(key_features, site_.heads),
                              expand_kv_heads(v, site_.heads), site_.causal, chunk_,
                              normaliser_->has_denominator());  // [B,H,Tq,D]
  return gate_->apply(x, mixer_->finish(normaliser_->normalise_output(out)));
}

bool AttentionVariantImpl::uses_fused_path(const torch::Tensor& q, const torch::Tensor& k,
                                           const torch::Tensor& v) const {
  return fused_parts() && fused_attention_supports(q, k, v);
}

torch::Tensor AttentionVariantImpl::forward_fused(const torch::Tensor& q, const torch::Tensor& k,
                                                  const torch::Tensor& v,
                                                  const torch::Tensor& x) {
  if (!uses_fused_path(q, k, v)) return forward_plain(q, k, v, x).out;
  const std::int64_t query_length = q.size(2), key_length = k.size(2);
  pattern_->check_lengths(query_length, key_length);
  const auto& mask = additive_mask(query_length, key_length, q.options());
  auto [rotated_q, rotated_k] = prepare(q, k).front();
  // k and v keep their G heads: the kernel reads kv head h / (H / G) for query head h.
  return gate_->apply(x, fused_dot_attention(rotated_q, rotated_k, v, score_->dot_scale(), mask,
                                             softcap_, normaliser_->sink_logits()));
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
  // Linear attention's map costs T^2 and its scan T: the scan wins at every length.
  if (linear_parts() && (!site_.causal || query_length == key_length)) return AttentionPath::Linear;
  if (uses_chunked_path(query_length, key_length)) return AttentionPath::Chunked;
  return fused_parts() && fused_attention_supports(inputs) ? AttentionPath::Fused
                                                          : AttentionPath::Plain;
}

bool AttentionVariantImpl::takes_path(AttentionPath path) const {
  switch (path) {
    case AttentionPath::Plain: return true;
    case AttentionPath::Fused: return fused_parts();
    case AttentionPath::Chunked: return chunked_parts();
    case AttentionPath::Linear: return linear_parts();
  }
  return false;
}

AttentionOutput AttentionVariantImpl::forward(const torch::Tensor& q, const torch::Tensor& k,
                                              const torch::Tensor& v, bool need_probs,
                                              const torch::Tensor& x) {
  if (!need_probs) {
    switch (path_for(q.size(2), k.size(2), q.options())) {
      case AttentionPath::Chunked: return {forward_chunked(q, k, v, x), torch::Tensor()};
      case AttentionPath::Fused: return {forward_fused(q, k, v, x), torch::Tensor()};
      case AttentionPath::Plain: return {forward_plain(q, k, v, x).out, torch::Tensor()};
      case AttentionPath::Linear: return {forward_linear(q, k, v, x), torch::Tensor()};
    }
  }
  return forward_plain(q, k, v, x);
}

const char* path_name(AttentionPath path) {
  switch (path) {
    case AttentionPath::Plain: return "plain";
    case AttentionPath::Fused: return "fused";
    case AttentionPath::Chunked: return "chunked";
    case AttentionPath::Linear: return "linear";
  }
  return "?";
}

namespace {

// Calls visit(registry, default part, doc) for each stage, in the order `attnlab variants` lists
// them and the config documents their selector keys.
template <typename Visit>
void for_each_stage(Visit&& visit) {
  visit(score_registry(), "scaled", "how queries and keys are compared");
  visit(position_registry(), "none",
        "positions inside attention (input positions are model.positions)");
  visit(pattern_registry(), "full", "which keys each query may attend to");
  visit(qk_norm_registry(), "none", "normalisation of q and k per head before the score");
  visit(normaliser_registry(), "softmax", "how masked scores become the attention map");
  visit(mixer_registry(), "single", "how maps are formed and combined (one, or differential)");
  visit(gate_registry(), "none", "gate on each head's output from the layer input");
  visit(feature_map_registry(), "elu1",
        "feature map φ of kernel attention (read only by variant.score = kernel)");
}

template <typename RegistryType>
std::vector<std::string> names_of(const RegistryType& registry) {
  std::vector<std::string> names;
  for (const auto* entry : registry.entries()) names.push_back(entry->name);
  return names;
}

// The options every variant has, whatever its parts: the selectors, then the shapes and paths.
std::vector<OptionSpec> engine_option_specs() {
  std::vector<OptionSpec> specs;
  for_each_stage([&](const auto& registry, const char* default_part, const char* doc) {
    specs.push_back({registry.kind(), std::string(default_part), doc, {}, false, {},
                     names_of(registry)});
  });
  specs.push_back({"kv_heads", std::int64_t{0},
                   "key/value heads G shared by the query heads (Ainslie et al. 2023): 1 = MQA, "
                   "1 < G < heads = GQA; 0: one per query head",
                   /*min=*/0.0});
  specs.push_back(softcap_option());
  specs.push_back({"chunk", std::int64_t{128},
                   "tile side of the chunked path, and chunk of linear attention's causal scan, "
                   "used when no probabilities are recorded (memory vs speed; results agree "
                   "with the plain path to rounding)",
                   /*min=*/1.0});
  specs.push_back({"materialise_max", std::int64_t{256},
                   "longest query or key length whose scores are materialised when no "
                   "probabilities are recorded (on the CPU: the fused head-by-head path); longer "
                   "sequences take the chunked path, whose memory grows as T, not T^2",
                   /*min=*/0.0});
  return specs;
}

}  // namespace

std::vector<OptionSpec> all_option_specs() {
  std::vector<OptionSpec> specs = engine_option_specs();
  const std::size_t engine_options = specs.size();
  std::set<std::string> seen;
  for (const auto& spec : specs) seen.insert(spec.name);
  for_each_stage([&](const auto& registry, const char*, const char*) {
    for (const auto* entry : registry.entries()) {
      for (const auto& option : entry->options) {
        if (seen.insert(option.name).second) specs.push_back(option);
      }
    }
  });
  std::sort(specs.begin() + static_cast<std::ptrdiff_t>(engine_options), specs.end(),
            [](const OptionSpec& a, const OptionSpec& b) { return a.name < b.name; });
  return specs;
}

void validate(const VariantOptions& options) {
  // Every stage's part is chosen (throws naming the key for an unknown name), and each part's
  // required traits are provided by some chosen part: RoPE needs a dot-product score, top-k a
  // normaliser whose rows are distributions, differential attention a normaliser.
  std::set<std::string> traits;
  for_each_stage([&](const auto& registry, const char*, const char*) {
    const auto& entry = chosen(registry, options);
    traits.insert(entry.traits.begin(), entry.traits.end());
  });
  for_each_stage([&](const auto& registry, const char*, const char*) {
    const auto& entry = chosen(registry, options);
    for (const auto& needed : entry.requires_traits) {
      if (traits.count(needed) != 0) continue;
      throw VariantError("variant." + registry.kind() + ": '" + entry.name + "' needs " + needed +
                         ", which none of the chosen parts provides (variant.score = '" +
                         options.get_string("score") + "', variant.normaliser = '" +
                         options.get_string("normaliser") + "'); choose another variant." +
                         registry.kind() + " or change the part that should provide it");
    }
  });
  // The cap bounds logits; kernel scores are not logits (their row sums normalise them).
  if (!std::isinf(options.get_float("softcap")) && traits.count("logit_scores") == 0) {
    throw VariantError("variant.softcap: caps logits, and variant.score = '" +
                       options.get_string("score") +
                       "' does not make logits; leave variant.softcap at inf");
  }
}

void validate_heads(const VariantOptions& options, std::int64_t heads, std::int64_t head_dim) {
  // Building the variant for this shape reaches every refusal, the kv_heads check and each part's
  // own (differential attention's odd head dimension, a T5 distance inside its exact buckets, a
  // rotary fraction that rotates nothing), before anything is written; the parameters it draws are
  // discarded.
  AttentionVariant(options, AttentionSite{0, heads, head_dim});
}

void validate_lengths(const VariantOptions& options, const AttentionSite& site,
                      std::int64_t query_length, std::int64_t key_length) {
  chosen(pattern_registry(), options).make(options, site)->check_lengths(query_length, key_length);
}

std::string describe_registered() {
  std::ostringstream out;
  bool first = true;
  for_each_stage([&](const auto& registry, const char*, const char*) {
    if (!first) out << "\n";
    first = false;
    describe_registry(registry, out);
  });
  out << "\nevery variant:\n";
  for (const auto& option : engine_option_specs()) {
    if (!option.choices.empty()) continue;  // the stage selectors, listed above
    out << "      variant." << option.name << " = " << format_value(option.default_value) << "  "
        << option.doc << "\n";
  }
  return out.str();
}

}  // namespace attnlab::variants
