// BigBird block-sparse attention (Zaheer et al. 2020), in whole blocks of `block` positions: each
// query block sees its own and the two neighbouring key blocks, the first `global_blocks` key
// blocks, and `random_blocks` other key blocks drawn per head; the first `global_blocks` query
// blocks see every key. The random draw is seeded by (random_seed, layer, head, query block), so it
// is fixed for a layer and head. Causal attention draws random blocks only among earlier blocks
// and masks every later key.
//
// H = heads, Tq = query length, Tk = key length, Nq = queries in a block, L = keys in a segment.
// Query i sits at position i + Tk - Tq; its block is floor(position / block).
#include <algorithm>
#include <cstdlib>
#include <random>
#include <set>

#include "variants/parts.h"

namespace attnlab::variants {
namespace {

std::int64_t floor_divide(std::int64_t a, std::int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// splitmix64: mixes the draw's coordinates into one well-spread seed.
std::uint64_t mix(std::uint64_t state, std::uint64_t value) {
  std::uint64_t z = state + value + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class BigBirdPattern : public Pattern {
 public:
  BigBirdPattern(const AttentionSite& site, std::int64_t block, std::int64_t global_blocks,
                 std::int64_t random_blocks, std::int64_t seed)
      : heads_(site.heads),
        layer_(site.layer),
        block_(block),
        global_blocks_(global_blocks),
        random_blocks_(random_blocks),
        seed_(seed) {}

  void check_lengths(std::int64_t query_length, std::int64_t key_length) const override {
    (void)query_length;
    if (key_length % block_ != 0) {
      throw VariantError("variant.block = " + std::to_string(block_) +
                         " must divide the key length " + std::to_string(key_length) +
                         " (bigbird's layout is made of whole blocks)");
    }
    if (global_blocks_ > key_length / block_) {
      throw VariantError("variant.global_blocks = " + std::to_string(global_blocks_) +
                         " exceeds the " + std::to_string(key_length / block_) +
                         " key blocks of length " + std::to_string(key_length) +
                         " with variant.block = " + std::to_string(block_));
    }
  }

  torch::Tensor allowed(std::int64_t query_length, std::int64_t key_length,
                        bool causal) const override {
    check_lengths(query_length, key_length);
    const std::int64_t key_blocks = key_length / block_;
    auto allowed = torch::zeros({heads_, query_length, key_length}, torch::kBool);  // [H,Tq,Tk]
    for (const auto& rows : query_blocks(query_length, key_length)) {
      for (std::int64_t head = 0; head < heads_; ++head) {
        auto head_rows = allowed[head].slice(0, rows.begin, rows.end);  // [Nq,Tk]
        for (std::int64_t key_block : key_blocks_of(rows.block, key_blocks, causal, head)) {
          head_rows.slice(1, key_block * block_, (key_block + 1) * block_).fill_(true);
        }
      }
    }
    if (causal) allowed.logical_and_(causal_allowed(query_length, key_length).unsqueeze(0));
    return allowed;
  }

  BlockLayout layout(std::int64_t query_length, std::int64_t key_length, bool causal,
                     std::int64_t chunk) const override {
    check_lengths(query_length, key_length);
    const std::int64_t key_blocks = key_length / block_;
    BlockLayout layout;
    for (const auto& rows : query_blocks(query_length, key_length)) {
      QueryBlock block;
      block.begin = rows.begin;
      block.end = rows.end;
      const auto positions = block.positions(query_length, key_length);  // [Nq]
      const std::int64_t first_position = rows.begin + key_length - query_length;
      // Blocks every head sees, as contiguous runs; a global query block sees all of them.
      std::vector<std::int64_t> shared = shared_blocks(rows.block, key_blocks, causal);
      for (std::size_t first = 0; first < shared.size();) {
        std::size_t last = first;
        while (last + 1 < shared.size() && shared[last + 1] == shared[last] + 1) ++last;
        // Split long runs (global query blocks) so that a tile stays within chunk x block keys.
        const std::int64_t run_end = (shared[last] + 1) * block_;
        const std::int64_t step = std::max(chunk, block_);
        for (std::int64_t begin = shared[first] * block_; begin < run_end; begin += step) {
          KeySegment segment;
          segment.begin = begin;
          segment.end = std::min(begin + step, run_end);
          if (causal && segment.end - 1 > first_position) {
            auto relative = torch::arange(segment.begin, segment.end, torch::kLong).unsqueeze(0) -
                            positions.unsqueeze(1);  // [Nq,L] j - p
            auto allowed = relative.le(0);
            if (!allowed.any().item<bool>()) continue;
            segment.allowed = allowed.unsqueeze(0);  // [1,Nq,L]
          }
          block.keys.push_back(std::move(segment));
        }
        first = last + 1;
      }
      // Random blocks differ per head but not in number: one gathered segment [H, r x block].
      std::vector<torch::Tensor> random_keys;
      for (std::int64_t head = 0; head < heads_; ++head) {
        auto chosen = random_blocks_of(rows.block, key_blocks, causal, head);
        std::vector<std::int64_t> keys;
        for (std::int64_t key_block : chosen) {
          for (std::int64_t j = key_block * block_; j < (key_block + 1) * block_; ++j) {
            keys.push_back(j);
          }
        }
        random_keys.push_back(torch::tensor(keys, torch::kLong));
      }
      if (!random_keys.empty() && random_keys.front().numel() > 0) {
        KeySegment segment;
        segment.index = torch::stack(random_keys);  // [H, r*block]
        block.keys.push_back(std::move(segment));
      }
      if (!block.keys.empty()) layout.blocks.push_back(std::move(block));
    }
    return layout;
  }

  // Own, neighbouring and global blocks pair by pair; the random blocks are the seeded draw
  // itself (random_blocks_of), whose properties the bigbird test checks.
  torch::Tensor reference_allowed(std::int64_t query_length, std::int64_t key_length,
                                  bool causal) const override {
    const std::int64_t key_blocks = key_length / block_;
    return allowed_pairs(
        heads_, query_length, key_length, causal,
        [&](std::int64_t head, std::int64_t position, std::int64_t key) {
          const std::int64_t query_block = floor_divide(position, block_), key_block = key / block_;
          if (query_block >= 0 && query_block < global_blocks_) return true;
          if (key_block < global_blocks_ || std::abs(query_block - key_block) <= 1) return true;
          const auto random = random_blocks_of(query_block, key_blocks, causal, head);
          return std::find(random.begin(), random.end(), key_block) != random.end();
        });
  }

 private:
  struct Rows {
    std::int64_t block, begin, end;  // query block index and its query rows [begin, end)
  };

  std::vector<Rows> query_blocks(std::int64_t query_length, std::int64_t key_length) const {
    const std::int64_t offset = key_length - query_length;
    std::vector<Rows> rows;
    for (std::int64_t begin = 0; begin < query_length;) {
      const std::int64_t block = floor_divide(begin + offset, block_);
      const std::int64_t end = std::min(query_length, (block + 1) * block_ - offset);
      rows.push_back({block, begin, end});
      begin = end;
    }
    return rows;
  }

  // Sliding and global key blocks (all key blocks for a global query block), sorted.
  std::vector<std::int64_t> shared_blocks(std::int64_t query_block, std::int64_t key_blocks,
                                          bool causal) const {
    std::set<std::int64_t> blocks;
    const std::int64_t last = causal ? std::min(key_blocks - 1, query_block) : key_blocks - 1;
    if (query_block >= 0 && query_block < global_blocks_) {
      for (std::int64_t b = 0; b <= last; ++b) blocks.insert(b);
    } else {
      for (std::int64_t b = query_block - 1; b <= query_block + 1; ++b) {
        if (b >= 0 && b <= last) blocks.insert(b);
      }
      for (std::int64_t b = 0; b < global_blocks_ && b <= last; ++b) blocks.insert(b);
    }
    return {blocks.begin(), blocks.end()};
  }

  // Up to random_blocks key blocks outside the shared ones (causal: strictly earlier), drawn by a
  // partial Fisher-Yates shuffle from a generator seeded by (seed, layer, head, query block).
  std::vector<std::int64_t> random_blocks_of(std::int64_t query_block, std::int64_t key_blocks,
                                             bool causal, std::int64_t head) const {
    if (query_block >= 0 && query_block < global_blocks_) return {};
    const auto shared = shared_blocks(query_block, key_blocks, causal);
    std::vector<std::int64_t> candidates;
    const std::int64_t last = causal ? std::min(key_blocks - 1, query_block - 1) : key_blocks - 1;
    for (std::int64_t b = 0; b <= last; ++b) {
      if (!std::binary_search(shared.begin(), shared.end(), b)) candidates.push_back(b);
    }
    std::uint64_t state = mix(0, static_cast<std::uint64_t>(seed_));
    state = mix(state, static_cast<std::uint64_t>(layer_));
    state = mix(state, static_cast<std::uint64_t>(head));
    state = mix(state, static_cast<std::uint64_t>(query_block));
    std::mt19937_64 generator(state);
    const auto count = std::min<std::size_t>(static_cast<std::size_t>(random_blocks_),
                                             candidates.size());
    for (std::size_t i = 0; i < count; ++i) {
      const auto pick = i + static_cast<std::size_t>(generator() % (candidates.size() - i));
      std::swap(candidates[i], candidates[pick]);
    }
    candidates.resize(count);
    std::sort(candidates.begin(), candidates.end());
    return candidates;
  }

  // Every key block a head's query block sees.
  std::vector<std::int64_t> key_blocks_of(std::int64_t query_block, std::int64_t key_blocks,
                                          bool causal, std::int64_t head) const {
    auto blocks = shared_blocks(query_block, key_blocks, causal);
    auto random = random_blocks_of(query_block, key_blocks, causal, head);
    blocks.insert(blocks.end(), random.begin(), random.end());
    return blocks;
  }

  std::int64_t heads_, layer_, block_, global_blocks_, random_blocks_, seed_;
};

}  // namespace

ATTNLAB_REGISTER(
    pattern_registry(),
    {"bigbird",
     "blocks: own and neighbouring, global and seeded random per head (Zaheer et al. 2020)",
     /*options=*/
     {{"block", std::int64_t{16}, "bigbird: block size in positions (must divide the key length)",
       /*min=*/1.0},
      {"global_blocks", std::int64_t{1},
       "bigbird: the first this many blocks see and are seen by every position", /*min=*/0.0},
      {"random_blocks", std::int64_t{2}, "bigbird: random key blocks per query block and head",
       /*min=*/0.0},
      {"random_seed", std::int64_t{0},
       "bigbird: seed of the random blocks (with the layer and head; fixed during training)",
       /*min=*/0.0}},
     /*traits=*/{}, /*requires_traits=*/{},
     [](const VariantOptions& options, const AttentionSite& site) {
       return std::make_shared<BigBirdPattern>(
           site, options.get_int("block"), options.get_int("global_blocks"),
           options.get_int("random_blocks"), options.get_int("random_seed"));
     }});

}  // namespace attnlab::variants
