// qwenedge::tokenizer::Tokenizer — the Qwen2 byte-level BPE tokenizer.
//
// encode: added tokens are matched first (leftmost, longest) on the raw text; the text between
// them is NFC-normalized, split by the Qwen2 pre-tokenizer and BPE-encoded piece by piece.
// The result is the ids of the Hugging Face tokenizer for the same tokenizer.json.
//
// Invalid UTF-8 in the input is never an error: every byte that is not part of a well-formed
// sequence is kept as it is, treated as a character that is neither letter, number nor space,
// and encoded as its byte token, so decode(encode(x), {.raw_bytes = true}) == NFC(x) byte for
// byte for any input x (normalize_nfc leaves such bytes in place).
//
// A Tokenizer is immutable after construction apart from an internal, locked piece cache:
// encode and decode may be called from any number of threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.hpp"

namespace qwenedge::tokenizer {

struct EncodeOptions {
  // Whether the text of a special (control) token, such as "<|im_end|>", becomes that token.
  // Off by default: text typed by a user must not end a turn or open a role; it is then
  // encoded like any other text. Added tokens that are not special (<tool_call>, <|fim_pad|>,
  // ...) are always matched, as Hugging Face does.
  bool parse_special = false;
};

struct DecodeOptions {
  bool skip_special = false;  // leave out control tokens (<|im_end|>, ...)
  // false: the result is valid UTF-8; each maximal invalid subpart becomes U+FFFD, as Hugging
  // Face's decode does. true: the tokens' bytes exactly, valid UTF-8 or not.
  bool raw_bytes = false;
};

namespace detail {
class TokenizerImpl;
}

class Tokenizer {
 public:
  // Throws qwenedge::Error(kBadModelFile) when the vocab is inconsistent.
  explicit Tokenizer(const Vocab& vocab);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  std::vector<int32_t> encode(std::string_view text, const EncodeOptions& options = {}) const;
  // Appends to `ids` (lets callers build one sequence from many parts without copies).
  void encode_append(std::string_view text, std::vector<int32_t>& ids, const EncodeOptions& options = {}) const;

  // Throws qwenedge::Error(kInvalidArgument) for an id outside [0, vocab_size()).
  std::string decode(std::span<const int32_t> ids, const DecodeOptions& options = {}) const;

  int32_t vocab_size() const;
  // The bytes a token stands for (plain text for added tokens). Empty for unused ids.
  std::string_view token_bytes(int32_t id) const;
  TokenType token_type(int32_t id) const;
  bool is_special(int32_t id) const { return token_type(id) == TokenType::kControl; }
  // The id of the token whose bytes (or added-token text) are exactly `text`, or -1.
  int32_t token_id(std::string_view text) const;

  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t pad_id() const;
  bool add_bos() const;
  const std::string& chat_template() const;

  const detail::TokenizerImpl& impl() const { return *impl_; }

 private:
  std::unique_ptr<detail::TokenizerImpl> impl_;
};

}  // namespace qwenedge::tokenizer
