#include "tokenizer/utf8.hpp"

namespace qwenedge::tokenizer {
namespace {
constexpr char kReplacement[] = "\xEF\xBF\xBD";
}

Utf8Step utf8_step(const unsigned char* p, size_t n) {
  const unsigned b0 = p[0];
  if (b0 < 0x80) return {Utf8Status::kValid, 1};
  uint32_t need;                    // continuation bytes after the lead
  unsigned lo = 0x80, hi = 0xBF;    // allowed range of the second byte (table 3-7)
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;  // no overlongs
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;  // no overlongs
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {Utf8Status::kInvalid, 1};
  }
  for (uint32_t k = 1; k <= need; ++k) {
    if (k >= n) return {Utf8Status::kIncomplete, static_cast<uint32_t>(n)};
    const unsigned b = p[k];
    const bool ok = (k == 1) ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) return {Utf8Status::kInvalid, k};
  }
  return {Utf8Status::kValid, need + 1};
}

void append_valid_utf8(std::string_view bytes, std::string& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t run = 0;  // start of the pending run of valid bytes
  size_t i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    const Utf8Step s = utf8_step(p + i, n - i);
    if (s.status == Utf8Status::kValid) {
      i += s.len;
      continue;
    }
    out.append(bytes.data() + run, i - run);
    out += kReplacement;
    i += s.len;
    run = i;
  }
  out.append(bytes.data() + run, n - run);
}

bool is_valid_utf8(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  for (size_t i = 0; i < n;) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    const Utf8Step s = utf8_step(p + i, n - i);
    if (s.status != Utf8Status::kValid) return false;
    i += s.len;
  }
  return true;
}

}  // namespace qwenedge::tokenizer
