// The chunked fast path's view of a pattern: which (query, key) tiles to compute. A layout is a
// list of query blocks; each visits its keys in segments, and a tile (block x segment) carries the
// mask of the pairs inside it that are allowed. Sparse patterns list only the tiles they need, so
// the work and memory of the fast path grow with the allowed pairs, not with Tq x Tk.
//
// H = heads, Tq = query length, Tk = key length, Nq = queries in a block, L = keys in a segment.
// Query i sits at position i + (Tk - Tq), as in Pattern::allowed.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

namespace attnlab::variants {

struct KeySegment {
  std::int64_t begin = 0;  // contiguous keys [begin, end) when `index` is undefined
  std::int64_t end = 0;
  at::Tensor index;    // [1|H, L] int64 key indices gathered per head (undefined: contiguous)
  at::Tensor allowed;  // [1|H, Nq, L] bool; undefined when every pair of the tile is allowed

  std::int64_t length() const { return index.defined() ? index.size(-1) : end - begin; }
};

struct QueryBlock {
  std::int64_t begin = 0;  // contiguous queries [begin, end) when `index` is undefined
  std::int64_t end = 0;
  at::Tensor index;  // [Nq] int64 query indices (undefined: contiguous)
  std::vector<KeySegment> keys;

  std::int64_t size() const { return index.defined() ? index.size(0) : end - begin; }
  // [Nq] int64 positions of the block's queries (index + Tk - Tq).
  at::Tensor positions(std::int64_t query_length, std::int64_t key_length) const;
};

// Every allowed (query, key) pair lies in exactly one tile; a query may appear in several blocks
// (their partial softmax sums are merged), which lets a pattern be a union of differently shaped
// parts (strided = a band of neighbours + same-residue keys gathered across the sequence).
struct BlockLayout {
  std::vector<QueryBlock> blocks;
};

// The layout with its index and mask tensors on `device` (layouts are built on the CPU).
BlockLayout layout_on(const BlockLayout& layout, const at::Device& device);

// [L] or [1|H, L] int64 key indices of a segment.
at::Tensor segment_keys(const KeySegment& segment);

// Contiguous query blocks of `chunk`, each visiting every key in segments of `chunk` (causal: only
// keys up to the query, the diagonal tiles masked). The layout of full attention.
BlockLayout dense_layout(std::int64_t query_length, std::int64_t key_length, bool causal,
                         std::int64_t chunk);

// Contiguous query blocks of at most `chunk`; query at position p sees keys j with
// p - before <= j <= p + after (and j <= p when causal), visited in one segment per block: the band
// of local windows. Work grows as Tq x (block + before + after).
BlockLayout band_layout(std::int64_t query_length, std::int64_t key_length, bool causal,
                        std::int64_t before, std::int64_t after, std::int64_t chunk);

// The tiles of `allowed` [1|H, Tq, Tk] on a chunk x chunk grid, skipping tiles with no allowed
// pair and dropping the mask of full ones: the generic layout of any pattern.
BlockLayout layout_from_allowed(const at::Tensor& allowed, std::int64_t chunk);

// [1|H, Tq, Tk] int count of how many tiles of the layout cover each pair (tests check it is
// exactly 1 where the pattern allows and 0 elsewhere). Materialises Tq x Tk: small sizes only.
at::Tensor coverage(const BlockLayout& layout, std::int64_t query_length, std::int64_t key_length,
                    std::int64_t heads);

// Number of (head-averaged) query-key pairs the fast path scores, for the cost checks.
double scored_pairs(const BlockLayout& layout);

}  // namespace attnlab::variants
