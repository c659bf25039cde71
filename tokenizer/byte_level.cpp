#include "tokenizer/byte_level.hpp"

#include "tokenizer/unicode.hpp"

namespace qwenedge::tokenizer {
namespace {

struct Tables {
  std::array<uint16_t, 256> to_cp{};
  std::array<int16_t, 0x144> to_byte{};  // -1: not in the alphabet
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

bool byte_level_decode_append(std::string_view token_text, std::string& out) {
  // Every character of the alphabet is one byte (ASCII) or two (U+00A1..U+0143), so the
  // result is at most as long as the text: write in place, then trim.
  const auto* p = reinterpret_cast<const unsigned char*>(token_text.data());
  const size_t n = token_text.size();
  const size_t base = out.size();
  out.resize(base + n);
  char* dst = out.data() + base;
  size_t w = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp = p[i];
    if (cp < 0x80) {
      ++i;
    } else if (cp >= 0xC2 && cp <= 0xC5 && i + 1 < n && (p[i + 1] & 0xC0) == 0x80) {
      cp = ((cp & 0x1F) << 6) | (p[i + 1] & 0x3Fu);
      i += 2;
    } else {
      out.resize(base + w);
      return false;
    }
    const int16_t b = cp < kTables.to_byte.size() ? kTables.to_byte[cp] : int16_t{-1};
    if (b < 0) {
      out.resize(base + w);
      return false;
    }
    dst[w++] = static_cast<char>(b);
  }
  out.resize(base + w);
  return true;
}

std::optional<std::string> byte_level_decode(std::string_view token_text) {
  std::string out;
  out.reserve(token_text.size());
  if (!byte_level_decode_append(token_text, out)) return std::nullopt;
  return out;
}

std::string byte_level_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) detail::append_utf8(out, byte_to_unicode(static_cast<uint8_t>(c)));
  return out;
}

}  // namespace qwenedge::tokenizer
