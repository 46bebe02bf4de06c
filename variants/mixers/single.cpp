// One map: out = A · v, the attention every other variant computes.
#include "variants/parts.h"

namespace attnlab::variants {

ATTNLAB_REGISTER(mixer_registry(),
                 {"single", "one map per head: out = A · v", {}, {}, {},
                  [](const VariantOptions&, const AttentionSite&) {
                    return std::make_shared<Mixer>();
                  }});

}  // namespace attnlab::variants
