// The parts of an attention variant, one registry per stage, composed as
//
//   (q_c, k_c)  = split(q, k)                        mixer: one pair, or differential's halves
//   (q_c, k_c)  = positions(qk_norm(q_c, k_c))       QK-norm, then RoPE-style rotations
//   s_c         = cap(score(q_c, k_c)) + bias         soft-capping (variant.softcap), ALiBi/T5 bias
//   A_c         = normalise(s_c, allowed)             softmax, softmax with a sink, sigmoid, linear
//   out         = gate(x, finish(norm(combine(A_c) · v)))
//                                                     mixer: A_1 - λ A_2 for differential; norm:
//                                                     the normaliser's output norm (linear without
//                                                     its denominator)
//
// Kernel (linear) attention is the score `kernel`, s_ij = φ(q_i)·φ(k_j) with a feature map φ
// (variant.feature_map), and the normaliser `linear`, A_ij = s_ij / Σ_j s_ij over allowed keys; for
// full patterns the engine computes it without the map, in O(T) (linear_attention.h).
//
// with k and v shared by groups of query heads when variant.kv_heads < heads. Score: how a query
// and a key are compared. Position: rotations of q and k (RoPE) and/or an additive bias (ALiBi,
// T5). Pattern: which keys each query may see (full, local, strided, ...). QueryKeyNorm,
// Normaliser, Mixer and OutputGate: the stages around the map that today's variants change.
//
// Each part also states its definition as a plain double-precision reference (the `reference_*`
// members), written from the formula beside the fast code in the part's file. The tests hold every
// registered part's fast code to its reference; the pipeline never calls them.
//
// B = batch, H = heads, G = key/value heads, Tq = query length, Tk = key length, D = head dim,
// C = d_model.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <torch/nn/module.h>

#include "variants/block_layout.h"
#include "variants/map_kind.h"
#include "variants/options.h"
#include "base/registry.h"

namespace attnlab::variants {

// Where an attention module sits; parts use it for per-layer seeds and head counts.
struct AttentionSite {
  std::int64_t layer = 0;
  std::int64_t heads = 1;
  std::int64_t head_dim = 1;
  bool causal = false;  // a query may not see later keys
  bool cross = false;   // keys come from another sequence (encoder-decoder)
  std::int64_t depth = 0;     // the block's index within its stack (differential's λ_init)
  std::int64_t d_model = 0;   // width of the layer input x (output gates read it); 0: H * D
  std::int64_t kv_heads = 0;  // key/value heads G (variant.kv_heads; 0 until the variant sets it)
};

class Score : public torch::nn::Module {
 public:
  // q [B,H,Tq,D], k [B,H,Tk,D] -> scores [B,H,Tq,Tk]
  virtual torch::Tensor scores(const torch::Tensor& q, const torch::Tensor& k) = 0;
  // The reference for scores(): q [B,H,Tq,D], k [B,H,Tk,D] double -> [B,H,Tq,Tk] double, in the
  // part's parameters taken to double and differentiable in them (the tests compare gradients).
  virtual torch::Tensor reference_scores(const torch::Tensor& q, const torch::Tensor& k) const = 0;
  // When the score is `scale * q·k` the attention can use fused and chunked matmul paths.
  virtual bool is_scaled_dot() const { return false; }
  virtual double dot_scale() const { return 1.0; }

  // Gradients of sum(grad_scores * scores(q, k)) with respect to q, k and each of parameters(),
  // for the chunked path's backward, which recomputes one tile at a time. The default recomputes
  // the tile's scores under autograd; memory stays bounded by the tile.
  struct Gradients {
    torch::Tensor q, k;                      // [B,H,Nq,D], [B,H,L,D]
    std::vector<torch::Tensor> parameters;   // one per parameters(), undefined when unused
  };
  virtual Gradients tile_gradients(const torch::Tensor& q, const torch::Tensor& k,
                                   const torch::Tensor& grad_scores);

  // Called once per forward pass of the layer, before any score of that pass (differential
  // attention computes two maps per pass): a kernel score's feature map counts passes here.
  virtual void begin_pass() {}
  // Whether the score is a kernel φ(q)·φ(k) whose features() the linear path reads.
  virtual bool is_kernel() const { return false; }
  // For a kernel score: φ(q) [B,H,Tq,F] and φ(k) [B,G,Tk,F] for q [B,H,Tq,d], k [B,G,Tk,d], such
  // that scores(q, k) = φ(q) φ(k)ᵀ. Throws for other scores.
  virtual std::pair<torch::Tensor, torch::Tensor> features(const torch::Tensor& q,
                                                           const torch::Tensor& k);
  // F of features() for q and k of dimension d; 0 for scores that are not kernels.
  virtual std::int64_t feature_dim(std::int64_t input_dim) const {
    (void)input_dim;
    return 0;
  }
};

// The feature map φ of kernel attention (variant.feature_map; read by the score `kernel` only).
// Query i sits at position i + Tk - Tq, key j at j, in a sequence of Tk keys (cosFormer's
// re-weighting reads them).
class FeatureMap : public torch::nn::Module {
 public:
  enum class Side { Query, Key };
  // x [B,H,T,d] at `positions` [T] (int64) of a sequence of `length` keys -> φ(x) [B,H,T,F].
  virtual torch::Tensor features(const torch::Tensor& x, Side side, const torch::Tensor& positions,
                                 std::int64_t length) = 0;
  // The reference for features(), for x in double and differentiable in the part's parameters.
  virtual torch::Tensor reference_features(const torch::Tensor& x, Side side,
                                           const torch::Tensor& positions,
                                           std::int64_t length) const = 0;
  // F for inputs of dimension d.
  virtual std::int64_t feature_dim(std::int64_t input_dim) const = 0;
  // Called once per forward pass of the layer, before its features (FAVOR+ counts training passes
  // to redraw its random features).
  virtual void begin_pass() {}
};

class Position : public torch::nn::Module {
 public:
  // Rotated copies of q [B,H,Tq,D] and k [B,H,Tk,D]; identity unless the scheme rotates.
  virtual std::pair<torch::Tensor, torch::Tensor> rotate(const torch::Tensor& q,
                                                         const torch::Tensor& k) {
    return {q, k};
  }
  // The reference for rotate(), for q and k in double; the identity, as rotate()'s default.
  virtual std::pair<torch::Tensor, torch::Tensor> reference_rotate(const torch::Tensor& q,
                                                                   const torch::Tensor& k) const {
    return {q, k};
  }
  // Additive score bias [1|H, Nq, L] for query positions [Nq] and key positions [L] or [1|H, L]
  // (int64; query i of Tq sits at position i + Tk - Tq), or undefined when the scheme adds none.
  // Biases are fixed functions of position (the chunked path does not differentiate them).
  virtual torch::Tensor bias_at(const torch::Tensor& query_positions,
                                const torch::Tensor& key_positions,
                                const torch::TensorOptions& options) {
    (void)query_positions, (void)key_positions, (void)options;
    return {};
  }
  // Whether bias_at() adds anything (the chunked path skips computing positions otherwise).
  virtual bool adds_bias() const { return false; }
  // The bias over all pairs: [1|H, Tq, Tk] or undefined.
  torch::Tensor bias(std::int64_t query_length, std::int64_t key_length,
                     const torch::TensorOptions& options);
  // The reference for bias(): [1|H, Tq, Tk] double; zeros, as bias_at()'s default adds none.
  virtual torch::Tensor reference_bias(std::int64_t query_length, std::int64_t key_length) const;
};

class Pattern {
 public:
  virtual ~Pattern() = default;
  // allowed [1 or H, Tq, Tk] (bool, true = may attend), causality already applied. Query i sits at
  // position i + (Tk - Tq) so that a shorter query block lines up with the end of the keys.
  virtual torch::Tensor allowed(std::int64_t query_length, std::int64_t key_length,
                                bool causal) const = 0;
  // The reference for allowed(): [1 or H, Tq, Tk] bool, always defined, pair by pair from the
  // pattern's definition (see allowed_pairs()).
  virtual torch::Tensor reference_allowed(std::int64_t query_length, std::int64_t key_length,
                                          bool causal) const = 0;
  // For score-dependent patterns (top-k): restrict scores [B,H,Tq,Tk] already masked with -inf.
  virtual torch::Tensor restrict_scores(const torch::Tensor& scores) const { return scores; }
  // The reference for restrict_scores(), on double scores; the identity, as its default.
  virtual torch::Tensor reference_restrict_scores(const torch::Tensor& scores) const {
    return scores;
  }
  virtual bool depends_on_scores() const { return false; }
  // Whether every key (every earlier one when causal) is allowed: the linear path's condition.
  virtual bool is_full() const { return false; }
  // A score-dependent pattern that keeps the k largest scores of each query returns k; the chunked
  // path then finds each query's k-th largest score in a streaming pass. Other score-dependent
  // patterns (0) always take the plain path.
  virtual std::int64_t keep_largest() const { return 0; }

  // Checks that depend on the sequence lengths (a block size that must divide T); throws
  // VariantError naming the `variant.*` key.
  virtual void check_lengths(std::int64_t query_length, std::int64_t key_length) const {
    (void)query_length, (void)key_length;
  }

  // The tiles the chunked path computes (see block_layout.h); `chunk` bounds a tile's side. The
  // default tiles allowed() and materialises Tq x Tk booleans once per shape; sparse patterns
  // override it to build only their tiles.
  virtual BlockLayout layout(std::int64_t query_length, std::int64_t key_length, bool causal,
                             std::int64_t chunk) const;
};

// QK-norm: q and k normalised per head before positions and score (none, rms, layer).
class QueryKeyNorm : public torch::nn::Module {
 public:
  // q [B,H,Tq,D], k [B,G,Tk,D] -> normalised copies (the identity for `none`).
  virtual std::pair<torch::Tensor, torch::Tensor> normalise(const torch::Tensor& q,
                                                            const torch::Tensor& k) {
    return {q, k};
  }
  // The reference for normalise(), in double and differentiable in the part's parameters.
  virtual std::pair<torch::Tensor, torch::Tensor> reference_normalise(
      const torch::Tensor& q, const torch::Tensor& k) const {
    return {q, k};
  }
};

// Turns masked scores into the map A (softmax, softmax with a sink logit, sigmoid).
class Normaliser : public torch::nn::Module {
 public:
  // scores [B,H,Tq,Tk], -inf where a pair may not attend -> A [B,H,Tq,Tk], exactly 0 there (a row
  // with no allowed key is all 0, not NaN).
  virtual torch::Tensor normalise(const torch::Tensor& scores) = 0;
  // The reference for normalise(), on double scores.
  virtual torch::Tensor reference_normalise(const torch::Tensor& scores) const = 0;
  // What a row of A is (map_kind.h).
  virtual MapKind map_kind() const = 0;
  // Whether A is softmax over the allowed keys plus optional extra logits per head (sink_logits):
  // the fused and chunked paths compute exactly that family, online.
  virtual bool is_softmax() const { return false; }
  // [H] logits that join each row's denominator and take no value; undefined when none.
  virtual torch::Tensor sink_logits() const { return {}; }
  // Whether A is the non-negative scores themselves, masked, divided by their allowed row sum when
  // has_denominator(): the linear path computes exactly that family from a kernel's features.
  virtual bool is_linear() const { return false; }
  virtual bool has_denominator() const { return true; }
  // The attended values [B,H,Tq,D] -> the values the mixer finishes: the identity, unless the
  // normaliser normalises each output instead of each row (linear without its denominator).
  virtual torch::Tensor normalise_output(const torch::Tensor& out) { return out; }
  virtual torch::Tensor reference_normalise_output(const torch::Tensor& out) const { return out; }
};

// How maps are formed from q and k and combined before and after they meet v: one map, or
// differential attention's two maps A_1 - λ A_2.
class Mixer : public torch::nn::Module {
 public:
  // The head dimension each map's score sees (D, or D/2 for differential); the score, QK-norm and
  // position parts are built for it.
  virtual std::int64_t score_dim(std::int64_t head_dim) const { return head_dim; }
  // The (q_c, k_c) pairs, one per map: q [B,H,Tq,D], k [B,G,Tk,D] -> pairs of [..,score_dim].
  virtual std::vector<std::pair<torch::Tensor, torch::Tensor>> split(const torch::Tensor& q,
                                                                     const torch::Tensor& k) const {
    return {{q, k}};
  }
  // The maps [B,H,Tq,Tk], one per pair, -> the map applied to v [B,H,Tq,Tk].
  virtual torch::Tensor combine(const std::vector<torch::Tensor>& maps) { return maps.front(); }
  // The attended values [B,H,Tq,D] -> the head outputs (differential: per-head norm and scale).
  virtual torch::Tensor finish(const torch::Tensor& out) { return out; }
  // The references for split(), combine() and finish(), in double and differentiable in the
  // part's parameters.
  virtual std::vector<std::pair<torch::Tensor, torch::Tensor>> reference_split(
      const torch::Tensor& q, const torch::Tensor& k) const {
    return {{q, k}};
  }
  virtual torch::Tensor reference_combine(const std::vector<torch::Tensor>& maps) const {
    return maps.front();
  }
  virtual torch::Tensor reference_finish(const torch::Tensor& out) const { return out; }
  // The kind of the combined map, given the kind of each normalised map.
  virtual MapKind map_kind(MapKind normalised) const { return normalised; }
  // Whether this is the one-map mixer the fused and chunked paths compute.
  virtual bool single_map() const { return true; }
};

// A gate on each head's output from the layer's input (Qiu et al. 2025): none, head, element.
class OutputGate : public torch::nn::Module {
 public:
  // x [B,Tq,C] (the query side's input), out [B,H,Tq,D] -> gated out.
  virtual torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& out) {
    (void)x;
    return out;
  }
  // The reference for apply(), in double and differentiable in the part's parameters.
  virtual torch::Tensor reference_apply(const torch::Tensor& x, const torch::Tensor& out) const {
    (void)x;
    return out;
  }
  // Whether apply() needs x (the identity gate does not).
  virtual bool uses_input() const { return false; }
};

using ScoreRegistry = Registry<Score, const VariantOptions&, const AttentionSite&>;
using PositionRegistry = Registry<Position, const VariantOptions&, const AttentionSite&>;
using PatternRegistry = Registry<Pattern, const VariantOptions&, const AttentionSite&>;
using QueryKeyNormRegistry = Registry<QueryKeyNorm, const VariantOptions&, const AttentionSite&>;
using NormaliserRegistry = Registry<Normaliser, const VariantOptions&, const AttentionSite&>;
using MixerRegistry = Registry<Mixer, const VariantOptions&, const AttentionSite&>;
using OutputGateRegistry = Registry<OutputGate, const VariantOptions&, const AttentionSite&>;
using FeatureMapRegistry = Registry<FeatureMap, const VariantOptions&, const AttentionSite&>;

ScoreRegistry& score_registry();
PositionRegistry& position_registry();
PatternRegistry& pattern_registry();
QueryKeyNormRegistry& qk_norm_registry();
NormaliserRegistry& normaliser_registry();
MixerRegistry& mixer_registry();
OutputGateRegistry& gate_registry();
FeatureMapRegistry& feature_map_registry();

// Causal and query-offset rule shared by every pattern: [Tq, Tk] bool, true where key j is not
// after query i (query i sits at position i + Tk - Tq).
torch::Tensor causal_allowed(std::int64_t query_length, std::int64_t key_length);
// [Tq, Tk] int64 of key position minus query position (j - i, with the same offset).
torch::Tensor relative_positions(std::int64_t query_length, std::int64_t key_length);

// For patterns' references: [heads, Tq, Tk] bool, true where is_open(head, p, j) holds (always,
// when is_open is empty) for query i at position p = i + Tk - Tq and key j, and (when causal)
// j <= p. A loop over pairs that shares nothing with the fast helpers above, so that it can check
// them.
using PairRule = std::function<bool(std::int64_t head, std::int64_t position, std::int64_t key)>;
torch::Tensor allowed_pairs(std::int64_t heads, std::int64_t query_length, std::int64_t key_length,
                            bool causal, const PairRule& is_open = {});

}  // namespace attnlab::variants
