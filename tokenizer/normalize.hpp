// Unicode Normalization Form C (UAX #15), as the Qwen2 tokenizer's "NFC" normalizer applies it.
#pragma once

#include <string>
#include <string_view>

namespace qwenedge::tokenizer {

// Appends the NFC form of `text` to `out`. Never fails: bytes that are not well-formed UTF-8
// are copied through unchanged and block composition across them (see tokenizer/unicode.hpp).
void normalize_nfc_append(std::string_view text, std::string& out);

inline std::string normalize_nfc(std::string_view text) {
  std::string out;
  normalize_nfc_append(text, out);
  return out;
}

// True when `text` is certainly in NFC already (NFC quick check answers Yes for every code
// point and no combining mark occurs), so normalization can be skipped.
bool is_nfc_quick(std::string_view text);

// The Unicode version of the generated tables ("15.0.0").
const char* unicode_version();

}  // namespace qwenedge::tokenizer
