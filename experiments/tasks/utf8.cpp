#include "experiments/tasks/utf8.h"

#include <stdexcept>

namespace attnlab::tasks {
namespace {

[[noreturn]] void not_utf8(const std::string& what, std::size_t offset) {
  throw std::invalid_argument(what + " is not UTF-8 (byte offset " + std::to_string(offset) + ")");
}

}  // namespace

std::vector<std::uint32_t> decode_utf8(const std::string& bytes, const std::string& what) {
  std::vector<std::uint32_t> characters;
  characters.reserve(bytes.size());
  for (std::size_t i = 0; i < bytes.size();) {
    const auto lead = static_cast<unsigned char>(bytes[i]);
    const int extra = lead < 0x80 ? 0 : (lead >> 5) == 0x6 ? 1 : (lead >> 4) == 0xE ? 2
                    : (lead >> 3) == 0x1E ? 3 : -1;
    if (extra < 0 || (extra > 0 && i + static_cast<std::size_t>(extra) >= bytes.size())) {
      not_utf8(what, i);
    }
    std::uint32_t code = extra == 0 ? lead : lead & (0x3F >> extra);
    for (int k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(bytes[i + static_cast<std::size_t>(k)]);
      if ((next >> 6) != 0x2) not_utf8(what, i + static_cast<std::size_t>(k));
      code = (code << 6) | (next & 0x3F);
    }
    // Overlong forms (a code point in more bytes than it needs), UTF-16 surrogates and code
    // points beyond Unicode's last are not UTF-8 either.
    static constexpr std::uint32_t kSmallest[] = {0, 0x80, 0x800, 0x10000};
    if (code < kSmallest[extra] || (code >= 0xD800 && code <= 0xDFFF) || code > 0x10FFFF) {
      not_utf8(what, i);
    }
    characters.push_back(code);
    i += static_cast<std::size_t>(extra) + 1;
  }
  return characters;
}

std::string encode_utf8(std::uint32_t code) {
  std::string bytes;
  if (code < 0x80) {
    bytes += static_cast<char>(code);
  } else if (code < 0x800) {
    bytes += static_cast<char>(0xC0 | (code >> 6));
    bytes += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    bytes += static_cast<char>(0xE0 | (code >> 12));
    bytes += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    bytes += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    bytes += static_cast<char>(0xF0 | (code >> 18));
    bytes += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    bytes += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    bytes += static_cast<char>(0x80 | (code & 0x3F));
  }
  return bytes;
}

}  // namespace attnlab::tasks
