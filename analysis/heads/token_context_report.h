// The files and terminal summary of `attnlab probe --token`:
//   token_heads.csv  one row per self-attention head, ranked (token_contexts.h):
//                    rank,layer,head,map_kind,occurrences,js_by_token,js_by_position,
//                    max_js_by_token,first_input,first_position,second_input,second_position
//                    (first/second: the pair of occurrences furthest apart by attended token)
//   token_rows.csv   the strongest keys of each occurrence's row, per head:
//                    layer,head,occurrence,input,position,rank,key_position,key_text,weight
//   token_context.svg the top heads, one row each: the two occurrences furthest apart as two
//                    panels of their input's tokens, each shaded by the weight the occurrence
//                    puts on it, the token itself outlined
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "analysis/heads/token_contexts.h"

namespace attnlab::heads {

inline constexpr const char* kTokenHeadsFile = "token_heads.csv";
inline constexpr const char* kTokenRowsFile = "token_rows.csv";
inline constexpr const char* kTokenFigureFile = "token_context.svg";

// Each input's tokens as text, [B][its length].
using InputTokens = std::vector<std::vector<std::string>>;

std::string token_heads_csv(const TokenContexts& contexts);
std::string token_rows_csv(const TokenContexts& contexts, const InputTokens& inputs);
// `heads`: how many of the ranked heads to draw; `token`: what the title calls the token.
std::string token_context_svg(const TokenContexts& contexts, const InputTokens& inputs,
                              const std::string& token, std::size_t heads);
// The top `heads` heads with their distances and each occurrence's strongest keys.
std::string token_contexts_text(const TokenContexts& contexts, const InputTokens& inputs,
                                std::size_t heads);

}  // namespace attnlab::heads
