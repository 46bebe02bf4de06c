// "Did you mean" suggestions by edit distance. Internal to the config library.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace attnlab::config::detail {

// Up to `count` of `candidates` close to `query`, closest first (ties keep candidate order).
// Dotted names are also compared by their last component, so a key typed without or with the
// wrong section ("lr", "optim.lr") still finds "train.lr".
std::vector<std::string> nearest_names(std::string_view query,
                                       const std::vector<std::string>& candidates,
                                       std::size_t count);

}  // namespace attnlab::config::detail
