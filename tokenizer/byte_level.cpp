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

std::optional<std::string> byte_level_decode(std::string_view token_text) {
  std::string out;
  out.reserve(token_text.size());
  const auto* p = reinterpret_cast<const unsigned char*>(token_text.data());
  const size_t n = token_text.size();
  for (size_t i = 0; i < n;) {
    if (p[i] < 0x80) {
      const int16_t b = kTables.to_byte[p[i]];
      if (b < 0) return std::nullopt;
      out.push_back(static_cast<char>(b));
      ++i;
      continue;
    }
    const detail::DecodedCp d = detail::decode_utf8(p + i, n - i);
    if (d.cp >= kTables.to_byte.size() || kTables.to_byte[d.cp] < 0) return std::nullopt;
    out.push_back(static_cast<char>(kTables.to_byte[d.cp]));
    i += d.len;
  }
  return out;
}

std::string byte_level_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) detail::append_utf8(out, byte_to_unicode(static_cast<uint8_t>(c)));
  return out;
}

}  // namespace qwenedge::tokenizer
