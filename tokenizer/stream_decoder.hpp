// Streaming detokenization: text comes out only in whole UTF-8 characters.
//
// A token may end in the middle of a character (one emoji is often two or three byte-level
// tokens, a CJK character sometimes two), so the bytes of an unfinished character are held
// back until the tokens that complete it arrive. Invalid UTF-8 is replaced by U+FFFD, one per
// maximal invalid subpart, as soon as it is certain that it can no longer become valid; an
// unfinished character left at finish() becomes one U+FFFD. The concatenated output therefore
// equals Tokenizer::decode of all the ids, however the ids were split into pushes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace qwenedge::tokenizer {

class Tokenizer;

// The byte-level part: feed bytes, get back the longest valid UTF-8 text that is final.
class Utf8Stream {
 public:
  // Appends to `out` the text that the bytes pushed so far complete.
  void push(std::string_view bytes, std::string& out);
  // Flushes what is held back (an unfinished character becomes U+FFFD) and resets.
  void finish(std::string& out);
  // Bytes held back, 0..3.
  size_t pending() const { return pending_len_; }

 private:
  char pending_[4] = {};
  size_t pending_len_ = 0;
};

class StreamDecoder {
 public:
  // `tokenizer` must outlive the decoder. With skip_special, control tokens produce no text.
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false)
      : tokenizer_(&tokenizer), skip_special_(skip_special) {}

  // Returns the text that becomes final with this token (often empty mid-character).
  // Throws qwenedge::Error(kInvalidArgument) for an id outside the vocab.
  std::string push(int32_t id);
  std::string finish();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  Utf8Stream stream_;
};

}  // namespace qwenedge::tokenizer
