// The three orthogonal parts of an attention variant:
//   out = softmax(score(q', k') + bias, allowed) · v,   (q', k') = positions(q, k)
// Score: how a query and a key are compared. Position: rotations of q and k (RoPE) and/or an
// additive bias (ALiBi). Pattern: which keys each query may see (full, local, strided, ...).
//
// Each part also states its definition as a plain double-precision reference (the `reference_*`
// members), written from the formula beside the fast code in the part's file. The tests hold every
// registered part's fast code to its reference; the pipeline never calls them.
//
// B = batch, H = heads, Tq = query length, Tk = key length, D = head dim.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <torch/nn/module.h>

#include "variants/block_layout.h"
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

using ScoreRegistry = Registry<Score, const VariantOptions&, const AttentionSite&>;
using PositionRegistry = Registry<Position, const VariantOptions&, const AttentionSite&>;
using PatternRegistry = Registry<Pattern, const VariantOptions&, const AttentionSite&>;

ScoreRegistry& score_registry();
PositionRegistry& position_registry();
PatternRegistry& pattern_registry();

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
