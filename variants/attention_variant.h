// An attention variant = one part per stage (score, position, pattern, QK-norm, normaliser, mixer,
// output gate), chosen by name from the registries, plus the shared key/value heads and the
// soft-cap (see parts.h). Multi-head attention in the model calls only this interface.
//
// B = batch, H = heads, G = key/value heads, Tq = query length, Tk = key length, D = head dim,
// C = d_model.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "variants/fused_attention.h"
#include "variants/parts.h"

namespace attnlab::variants {

// The ways forward() can compute attention without probabilities (see forward()).
enum class AttentionPath { Plain, Fused, Chunked, Linear };
// "plain", "fused", "chunked", "linear"
const char* path_name(AttentionPath path);

struct AttentionOutput {
  torch::Tensor out;    // [B,H,Tq,D]
  torch::Tensor probs;  // the map A [B,H,Tq,Tk] (of the variant's map_kind()) when requested
};

class AttentionVariantImpl : public torch::nn::Module {
 public:
  AttentionVariantImpl(const VariantOptions& options, const AttentionSite& site);

  // q [B,H,Tq,D], k [B,G,Tk,D], v [B,G,Tk,D]; x [B,Tq,C], the query side's input, which output
  // gates read (undefined when the variant has none: uses_gate_input()). With need_probs the plain
  // path runs and the map is returned for recording. Without, linear attention (a kernel score
  // with the `linear` normaliser over a full pattern) takes the linear path at every length; other
  // variants' sequences longer than
  // variant.materialise_max and one tile (variant.chunk) take the chunked path; shorter ones the
  // fused head-by-head path where it applies (CPU float32, `scale * q·k` scores, fixed masks and
  // biases, one softmax-family map), else the plain path. All agree within floating-point
  // tolerance.
  AttentionOutput forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                          bool need_probs = false, const torch::Tensor& x = {});

  // The plain path, always materialising [B,H,Tq,Tk]: the source of truth that every
  // faster path is tested against.
  AttentionOutput forward_plain(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, const torch::Tensor& x = {});

  // The chunked online-softmax path over the pattern's tiles (see chunked_attention.h), whatever
  // the sizes: out [B,H,Tq,D]. Throws VariantError for parts it cannot stream (a score-dependent
  // pattern other than top-k, a normaliser outside the softmax family, two maps).
  torch::Tensor forward_chunked(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, const torch::Tensor& x = {});
  // Whether forward() without probabilities takes the chunked path for these lengths.
  bool uses_chunked_path(std::int64_t query_length, std::int64_t key_length) const;
  // The linear path (see linear_attention.h): out [B,H,Tq,D] from the kernel score's features,
  // without the map. Throws VariantError for parts it cannot compute (see takes_path) and for
  // causal attention with Tq != Tk.
  torch::Tensor forward_linear(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const torch::Tensor& x = {});
  // The head-by-head CPU path (see fused_attention.h), whatever the sizes; falls back to the
  // plain path where it does not apply (see uses_fused_path).
  torch::Tensor forward_fused(const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v, const torch::Tensor& x = {});
  // Whether the variant's parts allow the fused path: `scale * q·k` scores, a pattern that does
  // not depend on the scores, no trainable position bias and one softmax-family map. The inputs
  // must also be CPU float32.
  bool uses_fused_path(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) const;

  // The path forward() takes without probabilities for these lengths and inputs of this device
  // and dtype. What the path keeps for the backward pass decides the memory of a training step.
  AttentionPath path_for(std::int64_t query_length, std::int64_t key_length,
                         const torch::TensorOptions& inputs) const;
  // Whether the parts can take `path` at all (plain: always; fused: also needs CPU float32
  // inputs; linear: also needs Tq = Tk when causal), whatever the lengths.
  bool takes_path(AttentionPath path) const;
  // Probabilities the fused path keeps for the backward pass per batch entry (all heads).
  std::int64_t fused_kept_probabilities(std::int64_t query_length, std::int64_t key_length);

  // allowed [1 or H, Tq, Tk] for this site (cached per shape), or undefined when all keys allowed.
  torch::Tensor allowed(std::int64_t query_length, std::int64_t key_length);
  // The tiles of the chunked path for these lengths, on `device` (cached per shape).
  std::shared_ptr<const BlockLayout> layout(std::int64_t query_length, std::int64_t key_length,
                                            const torch::Device& device = torch::kCPU);

  const AttentionSite& site() const { return site_; }
  // Key/value heads G (variant.kv_heads, or H when it is 0); query head h reads kv head
  // h / (H / G).
  std::int64_t kv_heads() const { return site_.kv_heads; }
  // What a row of the map is (map_kind.h).
  MapKind map_kind() const { return mixer_->map_kind(normaliser_->map_kind()); }
  // Whether forward() needs the layer input x (an output gate reads it).
  bool uses_gate_input() const { return gate_->uses_input(); }
  // The chosen parts, whose references (parts.h) the tests compose into the expected attention.
  const Score& score() const { return *score_; }
  const Position& position() const { return *position_; }
  const Pattern& pattern() const { return *pattern_; }
  const QueryKeyNorm& qk_norm() const { return *qk_norm_; }
  const Normaliser& normaliser() const { return *normaliser_; }
  const Mixer& mixer() const { return *mixer_; }
  const OutputGate& gate() const { return *gate_; }
  double softcap() const { return softcap_; }

 private:
  // q, k split by the mixer, normalised and rotated: one (q_c, k_c) pair per map, k_c with G heads.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> prepare(const torch::Tensor& q,
                                                               const torch::Tensor& k);
  // The chunked path's kernel call for inputs already prepared and kv heads already matched.
  torch::Tensor chunked_out(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);
  // Fast paths treat position biases as constants; a trainable one needs autograd.
  bool has_trainable_position() const;
  // Whether the parts allow the fused path: `scale * q·k` scores, a pattern that does not depend
  // on the scores, no trainable position bias and one softmax-family map.
  bool fused_parts() const;
  // Whether the parts allow the chunked path: a pattern it can stream, no trainable position bias
  // and one softmax-family map.
  bool chunked_parts() const;
  // Whether the parts allow the linear path: a kernel score, the `linear` normaliser, a full
  // pattern, no position bias, no cap and one map.
  bool linear_parts() const;
  // The fused path's mask and bias table for these lengths (cached per shape).
  const AdditiveMask& additive_mask(std::int64_t query_length, std::int64_t key_length,
                                    const torch::TensorOptions& options);

  AttentionSite site_;
  std::int64_t chunk_;
  std::int64_t materialise_max_;
  std::shared_ptr<Score> score_;
  std::shared_ptr<Position> position_;
  std::shared_ptr<Pattern> pattern_;
  std::shared_ptr<QueryKeyNorm> qk_norm_;
  std::shared_ptr<Normaliser> normaliser_;
  std::shared_ptr<Mixer> mixer_;
  std::shared_ptr<OutputGate> gate_;
  double softcap_;
  std::map<std::pair<std::int64_t, std::int64_t>, torch::Tensor> allowed_cache_;
  std::map<std::pair<std::int64_t, std::int64_t>, AdditiveMask> additive_cache_;
  struct CachedLayout {
    std::shared_ptr<const BlockLayout> layout;
    torch::Device device;
  };
  std::map<std::pair<std::int64_t, std::int64_t>, CachedLayout> layout_cache_;
};
TORCH_MODULE(AttentionVariant);

// k or v [B,G,T,D] -> [B,H,T,D]: query head h reads key/value head h / (H / G) (the grouping of
// Ainslie et al. 2023); x itself when G = H.
torch::Tensor expand_kv_heads(const torch::Tensor& x, std::int64_t heads);

// The selector options (one per stage), kv_heads, softcap and the paths' options, plus every
// option any registered part declares, each once, sorted by name: the `variant.*` config keys.
std::vector<OptionSpec> all_option_specs();

// Rejects unknown names and combinations that make no sense (e.g. RoPE with additive scores),
// naming the `variant.*` key to change. Throws VariantError.
void validate(const VariantOptions& options);

// Checks that depend on the layer's heads and head dimension (kv_heads must divide the heads;
// differential attention halves an even head dimension), and every refusal of a part's factory
// (a T5 maximum distance below its exact buckets): it builds the variant for such a layer.
// Throws VariantError naming the keys.
void validate_heads(const VariantOptions& options, std::int64_t heads, std::int64_t head_dim);

// Checks that depend on the sequence lengths (e.g. bigbird's block must divide Tk) for a site,
// without building the variant's parameters. Throws VariantError naming the key.
void validate_lengths(const VariantOptions& options, const AttentionSite& site,
                      std::int64_t query_length, std::int64_t key_length);

// Human-readable listing of every registered part with its options (`attnlab variants`).
std::string describe_registered();

}  // namespace attnlab::variants
