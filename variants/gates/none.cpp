// No output gate: each head's output goes to the output projection as it is.
#include "variants/parts.h"

namespace attnlab::variants {

ATTNLAB_REGISTER(gate_registry(),
                 {"none", "head outputs as they are", {}, {}, {},
                  [](const VariantOptions&, const AttentionSite&) {
                    return std::make_shared<OutputGate>();
                  }});

}  // namespace attnlab::variants
