// A representative attnlab schema for the config fuzz target. The real one
// (experiments/run/schema.cpp) gathers variant and task options from registries that live in the
// LibTorch library, which the fuzz build does not compile; this copy declares the same sections,
// groups, key types, defaults and constraints, so that configs/ composes against it.
#pragma once

#include "experiments/config/config.h"

namespace attnlab::fuzz {

const config::Schema& representative_schema();

}  // namespace attnlab::fuzz
