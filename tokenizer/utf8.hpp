// UTF-8 validation with the Unicode "maximal subpart" rule (the one Python's errors="replace",
// Rust's from_utf8_lossy and WHATWG use): each maximal prefix of a would-be sequence that
// cannot be completed becomes one U+FFFD, and decoding resumes at the byte that broke it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace qwenedge::tokenizer {

enum class Utf8Status : uint8_t {
  kValid,       // a complete, well-formed sequence of `len` bytes
  kInvalid,     // `len` bytes form a maximal subpart that can never be completed
  kIncomplete,  // all `len` remaining bytes are a valid prefix; more bytes may complete it
};

struct Utf8Step {
  Utf8Status status;
  uint32_t len;
};

// Classifies the sequence that starts at p[0] (n >= 1 bytes available).
Utf8Step utf8_step(const unsigned char* p, size_t n);

// Appends `bytes` with every maximal invalid subpart (an incomplete tail included) replaced by
// U+FFFD.
void append_valid_utf8(std::string_view bytes, std::string& out);
inline std::string to_valid_utf8(std::string_view bytes) {
  std::string out;
  append_valid_utf8(bytes, out);
  return out;
}
bool is_valid_utf8(std::string_view bytes);

}  // namespace qwenedge::tokenizer
