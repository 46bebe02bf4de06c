// No positional information inside attention: positions, if any, enter at the model input
// (model.positions = learned | sinusoidal | none).
#include "variants/parts.h"

namespace attnlab::variants {
namespace {

class NoPosition : public Position {};

}  // namespace

ATTNLAB_REGISTER(position_registry(),
                 {"none", "no positions inside attention (see model.positions)", {}, {}, {},
                  [](const VariantOptions&, const AttentionSite&) {
                    return std::make_shared<NoPosition>();
                  }});

}  // namespace attnlab::variants
