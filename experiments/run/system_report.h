// `attnlab info`: versions, the BLAS actually loaded, threads and CPU capabilities, as text.
#pragma once

#include <string>

namespace attnlab::run {

// Sets LibTorch's thread count to `threads` (0: every available core) first, since the report
// shows the threads in effect and ATen's parallel settings.
std::string system_report(int threads);

}  // namespace attnlab::run
