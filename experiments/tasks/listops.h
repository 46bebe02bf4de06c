// ListOps expressions (see listops.cpp for the task). Token ids: 0 padding, 1..10 the digits
// 0..9, 11 MIN, 12 MAX, 13 MED, 14 SM (sum modulo 10), 15 ']'.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace attnlab::tasks {

// The value (0-9) and operator nesting depth (0 for a bare digit) of an expression's tokens,
// padding ignored. Throws std::invalid_argument for a malformed expression.
std::pair<std::int64_t, std::int64_t> evaluate_listops(const std::vector<std::int64_t>& tokens);

}  // namespace attnlab::tasks
