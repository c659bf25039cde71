#include "tokenizer/byte_level.hpp"

#include "tokenizer/unicode.hpp"

namespace qwenedge::tokenizer {
namespace {

struct Tables {
  std::array<uint16_t, 256> to_cp{};
  // Code point -> byte, -1: not in the alphabet. Covers every code point a two-byte sequence
  // led by 0xC2..0xC5 can spell (up to U+017F), so a lookup needs no bounds check.
  std::array<int16_t, 0x180> to_byte{};
  constexpr Tables() {
    for (auto& b : to_byte) b = -1;
    uint16_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_cp[static_cast<size_t>(b)] = printable ? static_cast<uint16_t>(b) : next++;
      to_byte[to_cp[static_cast<size_t>(b)]] = static_cast<int16_t>(b);
    }
  }
};
constexpr Tables kTables;

}  // namespace

uint32_t byte_to_unicode(uint8_t b) { return kTables.to_cp[b]; }

int64_t byte_level_decode_to(std::string_view token_text, char* out) {
  // Every character of the alphabet is one byte (ASCII) or two (U+00A1..U+0143).
  const auto* p = reinterpret_cast<const unsigned char*>(token_text.data());
  const size_t n = token_text.size();
  int64_t w = 0;
  for (size_t i = 0; i < n;) {
    const uint32_t c = p[i];
    int16_t b;
    if (c < 0x80) {
      b = kTables.to_byte[c];
      ++i;
    } else if (c >= 0xC2 && c <= 0xC5 && i + 1 < n && (p[i + 1] & 0xC0) == 0x80) {
      b = kTables.to_byte[((c & 0x1F) << 6) | (p[i + 1] & 0x3Fu)];
      i += 2;
    } else {
      return -1;
    }
    if (b < 0) return -1;
    out[w++] = static_cast<char>(b);
  }
  return w;
}

std::optional<std::string> byte_level_decode(std::string_view token_text) {
  std::string out(token_text.size(), '\0');
  const int64_t n = byte_level_decode_to(token_text, out.data());
  if (n < 0) return std::nullopt;
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string byte_level_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) detail::append_utf8(out, byte_to_unicode(static_cast<uint8_t>(c)));
  return out;
}

}  // namespace qwenedge::tokenizer
