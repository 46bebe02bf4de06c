// The fast path of attention when no probabilities are needed: an online softmax over the tiles of
// a BlockLayout (flash-attention style: running max and sum per query, one tile of scores alive at
// a time). Backward is a custom autograd function that recomputes each tile from the saved
// log-sum-exp, so forward+backward memory grows with the tile and the outputs, never with Tq x Tk,
// and sparse layouts only pay for the tiles they list.
//
// B = batch, H = heads, Tq = query length, Tk = key length, D = head dim.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>

#include "variants/parts.h"

namespace attnlab::variants {

// q [B,H,Tq,D], k [B,H,Tk,D] (already rotated by the position scheme), v [B,H,Tk,D] ->
// out [B,H,Tq,D]. Differentiable in q, k, v, the score's parameters and sink_logits.
// keep_largest > 0 keeps only the k largest allowed scores of each query (top-k pattern).
// softcap: the c of softcap.h (inf: none), applied to each tile's scores before the position bias.
// sink_logits [H] (undefined: none): one logit per head that joins each row's denominator and
// takes no value; each row's online softmax starts from it. A query with no allowed key gets a
// zero output, as in the plain path.
torch::Tensor chunked_attention(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, const std::shared_ptr<Score>& score,
                                const std::shared_ptr<Position>& position,
                                const std::shared_ptr<const BlockLayout>& layout,
                                std::int64_t keep_largest,
                                double softcap = std::numeric_limits<double>::infinity(),
                                const torch::Tensor& sink_logits = {});

}  // namespace attnlab::variants
