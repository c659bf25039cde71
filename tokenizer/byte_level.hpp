// The GPT-2 byte-level alphabet: every byte value stands for one printable Unicode character
// ('!'..'~', '¡'..'¬', '®'..'ÿ' stand for themselves, the other 68 bytes for U+0100..U+0143 in
// order), so that any byte string is a printable token text. Vocabularies store tokens in
// this form; the tokenizer works on raw bytes and converts once, at load.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qwenedge::tokenizer {

// The code point that stands for byte b.
uint32_t byte_to_unicode(uint8_t b);

// Converts a byte-level token text to the bytes it stands for; nullopt when a character is not
// in the byte-level alphabet (or the text is not valid UTF-8).
std::optional<std::string> byte_level_decode(std::string_view token_text);

// Writes the bytes that `token_text` stands for to out (room for token_text.size() bytes: each
// character stands for one byte and takes one or two) and returns how many; -1 when a character
// is not in the byte-level alphabet. No allocation and no call per character: a vocabulary's
// 150k tokens go through it on every load.
int64_t byte_level_decode_to(std::string_view token_text, char* out);

// Converts raw bytes to byte-level text (the inverse of byte_level_decode).
std::string byte_level_encode(std::string_view bytes);

}  // namespace qwenedge::tokenizer
