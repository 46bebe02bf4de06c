// Exceptions that, coming from a given library call, mean bad input to the command (exit 2): the
// library reports them in its own types (std::invalid_argument, dump::DumpError, ...), which
// elsewhere mean a runtime failure (exit 1); the command says which ones to rethrow as
// config::ConfigError with the same message.
#pragma once

#include <utility>

#include "experiments/config/config.h"

namespace attnlab::cli {

template <typename Work>
auto as_bad_input(Work&& work) {
  return std::forward<Work>(work)();
}

// as_bad_input<std::invalid_argument, dump::DumpError>([&] { return library_call(...); })
template <typename Error, typename... MoreErrors, typename Work>
auto as_bad_input(Work&& work) {
  try {
    return as_bad_input<MoreErrors...>(std::forward<Work>(work));
  } catch (const Error& error) {
    throw config::ConfigError(error.what());
  }
}

}  // namespace attnlab::cli
