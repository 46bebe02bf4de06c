// UTF-8 text as code points and back: what the text tasks (charlm, wordlm) read their files and
// a user's inputs with.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attnlab::tasks {

// Throws std::invalid_argument naming `what` and the byte offset of the first invalid byte.
std::vector<std::uint32_t> decode_utf8(const std::string& bytes, const std::string& what);
std::string encode_utf8(std::uint32_t code_point);

}  // namespace attnlab::tasks
