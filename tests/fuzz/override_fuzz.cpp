// Fuzzes Hydra's override grammar (experiments/config/override_parser.cpp). The input is one
// command-line override, e.g. `train.lr=1e-3`, `+extra.tags=[a,'b c']`, `~variant`.
// parse_override() accepts it or throws ConfigError; an accepted value is then typed against a
// declared key of every type, as compose() does, and inferred, as for keys added under a free
// section. Any other exception, a crash or a sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "experiments/config/config.h"
#include "experiments/config/override_value.h"

namespace {

using attnlab::config::ConfigError;
using attnlab::config::KeyDoc;
using attnlab::config::Type;

// parse_value() reads only a key's name (for messages) and type.
const std::vector<KeyDoc>& key_of_every_type() {
  static const std::vector<KeyDoc> keys = {
      {"record.maps", Type::Bool, false, "", {}},
      {"train.steps", Type::Int, std::int64_t{0}, "", {}},
      {"train.lr", Type::Float, 0.0, "", {}},
      {"runtime.device", Type::String, std::string(), "", {}},
      {"eval.lengths", Type::IntList, std::vector<std::int64_t>{}, "", {}},
      {"train.schedule", Type::FloatList, std::vector<double>{}, "", {}},
      {"extra.tags", Type::StringList, std::vector<std::string>{}, "", {}},
  };
  return keys;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  attnlab::config::Override parsed;
  try {
    parsed = attnlab::config::parse_override(text);
  } catch (const ConfigError&) {
    return 0;
  }
  if (!parsed.raw_value) return 0;
  for (const KeyDoc& key : key_of_every_type()) {
    try {
      attnlab::config::parse_value(*parsed.raw_value, key);
    } catch (const ConfigError&) {
    }
  }
  try {
    attnlab::config::detail::infer_node(attnlab::config::detail::lex_value(*parsed.raw_value),
                                        parsed.key);
  } catch (const ConfigError&) {
  }
  return 0;
}
