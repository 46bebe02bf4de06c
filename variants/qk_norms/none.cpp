// No QK-norm: q and k reach the score as projected.
#include "variants/parts.h"

namespace attnlab::variants {

ATTNLAB_REGISTER(qk_norm_registry(),
                 {"none", "q and k as projected", {}, {}, {},
                  [](const VariantOptions&, const AttentionSite&) {
                    return std::make_shared<QueryKeyNorm>();
                  }});

}  // namespace attnlab::variants
