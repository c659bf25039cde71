// Each alternative of the Qwen2 split pattern is a small run-length rule over character
// classes, so the text is first decoded into one class per code point and the rules are then
// applied in pattern order at each position. Backtracking in the regex only ever shortens a
// whitespace run, which the rules for alternatives 5 and 6 spell out.
#include "tokenizer/pretokenize.hpp"

#include <cstdint>

#include "tokenizer/unicode.hpp"

namespace qwenedge::tokenizer {
namespace {

enum class Cls : uint8_t { kLetter, kNumber, kSpace, kOther };

struct Char {
  size_t offset;  // byte offset in the text
  uint32_t cp;
  Cls cls;
};

Cls classify(uint32_t cp) {
  const uint8_t f = detail::cp_flags(cp);
  if (f & detail::ucd::kFlagLetter) return Cls::kLetter;
  if (f & detail::ucd::kFlagNumber) return Cls::kNumber;
  if (f & detail::ucd::kFlagSpace) return Cls::kSpace;
  return Cls::kOther;
}

// ASCII classes, precomputed: the common case.
struct AsciiClasses {
  Cls cls[128];
  constexpr AsciiClasses() : cls() {
    for (int c = 0; c < 128; ++c) {
      const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      const bool digit = c >= '0' && c <= '9';
      const bool space = c == ' ' || (c >= 0x09 && c <= 0x0D);
      cls[c] = letter ? Cls::kLetter : digit ? Cls::kNumber : space ? Cls::kSpace : Cls::kOther;
    }
  }
};
constexpr AsciiClasses kAscii;

inline bool is_crlf(uint32_t cp) { return cp == '\r' || cp == '\n'; }
inline uint32_t ascii_lower(uint32_t cp) { return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp; }

// Returns the end (index into chars) of the match starting at i.
size_t match_at(const std::vector<Char>& c, size_t i) {
  const size_t n = c.size();
  const uint32_t cp = c[i].cp;
  const Cls k = c[i].cls;

  // 1: (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (cp == '\'' && i + 1 < n) {
    const uint32_t a = ascii_lower(c[i + 1].cp);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if (i + 2 < n) {
      const uint32_t b = ascii_lower(c[i + 2].cp);
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    }
  }
  // 2: [^\r\n\p{L}\p{N}]?\p{L}+
  size_t letters = n;
  if (k == Cls::kLetter) {
    letters = i;
  } else if (k != Cls::kNumber && !is_crlf(cp) && i + 1 < n && c[i + 1].cls == Cls::kLetter) {
    letters = i + 1;
  }
  if (letters != n) {
    size_t j = letters + 1;
    while (j < n && c[j].cls == Cls::kLetter) ++j;
    return j;
  }
  // 3: \p{N}
  if (k == Cls::kNumber) return i + 1;
  // 4: ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  const size_t s = (cp == ' ') ? i + 1 : i;
  if (s < n && c[s].cls == Cls::kOther) {
    size_t j = s + 1;
    while (j < n && c[j].cls == Cls::kOther) ++j;
    while (j < n && is_crlf(c[j].cp)) ++j;
    return j;
  }
  // Only whitespace is left (k == kSpace).
  size_t e = i + 1;
  size_t last_crlf = is_crlf(cp) ? i : n;
  while (e < n && c[e].cls == Cls::kSpace) {
    if (is_crlf(c[e].cp)) last_crlf = e;
    ++e;
  }
  // 5: \s*[\r\n]+ — the whitespace run up to and including its last CR or LF.
  if (last_crlf != n) return last_crlf + 1;
  // 6: \s+(?!\S) — the whole run at the end of the text, else all of it but the last one.
  if (e == n || e - i >= 2) return e == n ? e : e - 1;
  // 7: \s+
  return e;
}

}  // namespace

void pretokenize_qwen2(std::string_view text, std::vector<std::string_view>& pieces) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  std::vector<Char> chars;
  chars.reserve(n);
  for (size_t i = 0; i < n;) {
    if (p[i] < 0x80) {
      chars.push_back({i, p[i], kAscii.cls[p[i]]});
      ++i;
      continue;
    }
    const detail::DecodedCp d = detail::decode_utf8(p + i, n - i);
    chars.push_back({i, d.cp, classify(d.cp)});
    i += d.len;
  }
  for (size_t i = 0; i < chars.size();) {
    const size_t j = match_at(chars, i);
    const size_t begin = chars[i].offset;
    const size_t end = j < chars.size() ? chars[j].offset : n;
    pieces.push_back(text.substr(begin, end - begin));
    i = j;
  }
}

}  // namespace qwenedge::tokenizer
