#include "variants/softcap.h"

#include <limits>

namespace attnlab::variants {

OptionSpec softcap_option() {
  return {"softcap", std::numeric_limits<double>::infinity(),
          "logit soft-cap c: scores become c·tanh(s / c) before bias and mask (Gemma 2 uses 50); "
          "inf: none",
          /*min=*/0.0, /*min_exclusive=*/true};
}

}  // namespace attnlab::variants
