// Code point level helpers over the generated Unicode tables: UTF-8 decoding that never fails,
// the property flags the pre-tokenizer needs, and canonical combining classes.
//
// Invalid UTF-8 is not an error anywhere in the tokenizer: each byte that does not start a
// well-formed sequence (Unicode 15 table 3-7: no overlongs, no surrogates, nothing above
// U+10FFFF) decodes to one pseudo code point kInvalidByteBase + byte. Pseudo code points have
// no properties (neither letter, number nor space), never normalize or compose, and encode back
// to the original byte, so text round-trips byte for byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "tokenizer/unicode/unicode_tables.hpp"

namespace qwenedge::tokenizer::detail {

inline constexpr uint32_t kInvalidByteBase = 0x110000;
inline constexpr uint32_t kReplacementChar = 0xFFFD;

struct DecodedCp {
  uint32_t cp;   // the code point, or kInvalidByteBase + byte
  uint32_t len;  // bytes consumed, 1..4
};

// Decodes the sequence at p[0..n), n >= 1.
inline DecodedCp decode_utf8(const unsigned char* p, size_t n) {
  const uint32_t b0 = p[0];
  if (b0 < 0x80) return {b0, 1};
  const DecodedCp bad{kInvalidByteBase + b0, 1};
  if (b0 < 0xC2) return bad;  // continuation byte or overlong 2-byte lead
  if (b0 < 0xE0) {
    if (n < 2 || (p[1] & 0xC0) != 0x80) return bad;
    return {((b0 & 0x1F) << 6) | (p[1] & 0x3Fu), 2};
  }
  if (b0 < 0xF0) {
    if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return bad;
    if (b0 == 0xE0 && p[1] < 0xA0) return bad;   // overlong
    if (b0 == 0xED && p[1] >= 0xA0) return bad;  // surrogate
    return {((b0 & 0x0F) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu), 3};
  }
  if (b0 < 0xF5) {
    if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return bad;
    if (b0 == 0xF0 && p[1] < 0x90) return bad;   // overlong
    if (b0 == 0xF4 && p[1] >= 0x90) return bad;  // above U+10FFFF
    return {((b0 & 0x07) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu), 4};
  }
  return bad;
}

// Appends the UTF-8 form of cp; a pseudo code point appends its original byte.
inline void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < kInvalidByteBase) {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(cp - kInvalidByteBase));
  }
}

// Property flags (ucd::kFlag*) of a code point; 0 for pseudo code points.
inline uint8_t cp_flags(uint32_t cp) {
  if (cp >= kInvalidByteBase) return 0;
  const uint32_t block = ucd::kFlagIndex[cp >> ucd::kFlagShift];
  return ucd::kFlagBlocks[(block << ucd::kFlagShift) | (cp & ucd::kFlagMask)];
}

// Canonical combining class; 0 for starters and pseudo code points.
uint8_t combining_class(uint32_t cp);

}  // namespace qwenedge::tokenizer::detail
