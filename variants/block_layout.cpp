#include "variants/block_layout.h"

#include <algorithm>

namespace attnlab::variants {
namespace {

at::Tensor int_range(std::int64_t begin, std::int64_t end) {
  return at::arange(begin, end, at::TensorOptions().dtype(at::kLong));
}

// [1, Nq, L] bool of p - before <= j <= p + after for the block's query positions and key range.
at::Tensor band_tile(const at::Tensor& positions, std::int64_t key_begin, std::int64_t key_end,
                     std::int64_t before, std::int64_t after) {
  auto relative = int_range(key_begin, key_end).unsqueeze(0) - positions.unsqueeze(1);  // [Nq,L]
  return relative.ge(-before).logical_and(relative.le(after)).unsqueeze(0);  // [1,Nq,L]
}

}  // namespace

at::Tensor QueryBlock::positions(std::int64_t query_length, std::int64_t key_length) const {
  const std::int64_t offset = key_length - query_length;
  if (index.defined()) return index + offset;
  return int_range(begin + offset, end + offset);  // [Nq]
}

BlockLayout layout_on(const BlockLayout& layout, const at::Device& device) {
  auto move = [&device](const at::Tensor& tensor) {
    return tensor.defined() ? tensor.to(device) : tensor;
  };
  BlockLayout moved = layout;
  for (auto& block : moved.blocks) {
    block.index = move(block.index);
    for (auto& segment : block.keys) {
      segment.index = move(segment.index);
      segment.allowed = move(segment.allowed);
    }
  }
  return moved;
}

at::Tensor segment_keys(const KeySegment& segment) {
  return segment.index.defined() ? segment.index : int_range(segment.begin, segment.end);
}

BlockLayout dense_layout(std::int64_t query_length, std::int64_t key_length, bool causal,
                         std::int64_t chunk) {
  BlockLayout layout;
  const std::int64_t offset = key_length - query_length;
  for (std::int64_t query_begin = 0; query_begin < query_length; query_begin += chunk) {
    QueryBlock block;
    block.begin = query_begin;
    block.end = std::min(query_begin + chunk, query_length);
    const std::int64_t last_position = block.end - 1 + offset;
    const std::int64_t key_end = causal ? std::min(key_length, last_position + 1) : key_length;
    const auto positions = block.positions(query_length, key_length);  // [Nq]
    for (std::int64_t key_begin = 0; key_begin < key_end; key_begin += chunk) {
      KeySegment segment;
      segment.begin = key_begin;
      segment.end = std::min(key_begin + chunk, key_end);
      // Only tiles reaching past the block's first query straddle the causal diagonal.
      if (causal && segment.end - 1 > block.begin + offset) {
        segment.allowed = band_tile(positions, segment.begin, segment.end,
                                    /*before=*/key_length, /*after=*/0);
      }
      block.keys.push_back(std::move(segment));
    }
    if (!block.keys.empty()) layout.blocks.push_back(std::move(block));
  }
  return layout;
}

BlockLayout band_layout(std::int64_t query_length, std::int64_t key_length, bool causal,
                        std::int64_t before, std::int64_t after, std::int64_t chunk) {
  BlockLayout layout;
  const std::int64_t offset = key_length - query_length;
  if (causal) after = std::min<std::int64_t>(after, 0);
  // A block of Nq queries scores Nq + before + after keys each, of which before + after + 1 are
  // in the band: blocks of a quarter of the band waste about a fifth of the pairs; below 32
  // queries per-tile overhead would dominate.
  const std::int64_t rows = std::min(chunk, std::max<std::int64_t>(32, std::max(before, after) / 4));
  for (std::int64_t query_begin = 0; query_begin < query_length; query_begin += rows) {
    QueryBlock block;
    block.begin = query_begin;
    block.end = std::min(query_begin + rows, query_length);
    KeySegment segment;
    segment.begin = std::max<std::int64_t>(0, block.begin + offset - before);
    segment.end = std::min(key_length, block.end - 1 + offset + after + 1);
    if (segment.begin >= segment.end) continue;
    auto allowed = band_tile(block.positions(query_length, key_length), segment.begin, segment.end,
                             before, after);  // [1,Nq,L]
    if (!allowed.any().item<bool>()) continue;
    if (!allowed.all().item<bool>()) segment.allowed = allowed;
    block.keys.push_back(std::move(segment));
    layout.blocks.push_back(std::move(block));
  }
  return layout;
}

BlockLayout layout_from_allowed(const at::Tensor& allowed, std::int64_t chunk) {
  BlockLayout layout;
  const std::int64_t query_length = allowed.size(1), key_length = allowed.size(2);
  for (std::int64_t query_begin = 0; query_begin < query_length; query_begin += chunk) {
    QueryBlock block;
    block.begin = query_begin;
    block.end = std::min(query_begin + chunk, query_length);
    for (std::int64_t key_begin = 0; key_begin < key_length; key_begin += chunk) {
      const std::int64_t key_end = std::min(key_begin + chunk, key_length);
      auto tile = allowed.slice(1, block.begin, block.end).slice(2, key_begin, key_end);
      if (!tile.any().item<bool>()) continue;
      KeySegment segment;
      segment.begin = key_begin;
      segment.end = key_end;
      if (!tile.all().item<bool>()) segment.allowed = tile.contiguous();  // [1|H,Nq,L]
      block.keys.push_back(std::move(segment));
    }
    if (!block.keys.empty()) layout.blocks.push_back(std::move(block));
  }
  return layout;
}

at::Tensor coverage(const BlockLayout& layout, std::int64_t query_length, std::int64_t key_length,
                    std::int64_t heads) {
  auto count = at::zeros({heads, query_length, key_length}, at::kInt);  // [H,Tq,Tk]
  for (const auto& block : layout.blocks) {
    const auto rows = block.index.defined() ? block.index : int_range(block.begin, block.end);
    for (const auto& segment : block.keys) {
      const auto keys = segment_keys(segment).view({-1, segment.length()});  // [1|H,L]
      for (std::int64_t head = 0; head < heads; ++head) {
        const auto head_keys = keys[keys.size(0) == 1 ? 0 : head];  // [L]
        auto tile = at::ones({block.size(), segment.length()}, at::kInt);  // [Nq,L]
        if (segment.allowed.defined()) {
          tile = segment.allowed[segment.allowed.size(0) == 1 ? 0 : head].to(at::kInt);
        }
        count[head].index_put_({rows.unsqueeze(1), head_keys.unsqueeze(0)}, tile,
                               /*accumulate=*/true);
      }
    }
  }
  return count;
}

double scored_pairs(const BlockLayout& layout) {
  double pairs = 0;
  for (const auto& block : layout.blocks) {
    for (const auto& segment : block.keys) {
      pairs += static_cast<double>(block.size()) * static_cast<double>(segment.length());
    }
  }
  return pairs;
}

}  // namespace attnlab::variants
