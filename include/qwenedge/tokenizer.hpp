// qwenedge::Tokenizer — the Qwen byte-level BPE tokenizer and chat template, usable without the
// weights: from a model's GGUF metadata or a Hugging Face tokenizer.json.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "qwenedge/model.hpp"

namespace qwenedge {

namespace tokenizer {
class Tokenizer;
}
namespace detail {
struct TokenizerAccess;
}

// Immutable; copies share one tokenizer. encode and decode may run on any number of threads.
class Tokenizer {
 public:
  // `path`: a GGUF model file (only its metadata is read) or a Hugging Face tokenizer.json (a
  // tokenizer_config.json beside it gives the chat template and special tokens). Throws
  // Error(kIo) for a missing file, Error(kBadModelFile) for a malformed one.
  static Tokenizer load(const std::string& path);

  // Text -> ids. parse_special: text such as "<|im_end|>" becomes the special token (off by
  // default: user text is just text). Invalid UTF-8 is kept as raw bytes, never an error.
  std::vector<int32_t> encode(std::string_view text, bool parse_special = false) const;
  // Ids -> text (invalid UTF-8 becomes U+FFFD). Throws Error(kInvalidArgument) for an id
  // outside the vocabulary.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;

  // The chat template's text for `messages` (tools: JSON texts of tool definitions), and its ids
  // (the template's own special tokens as special tokens, message text as plain text).
  std::string render_chat(const std::vector<Message>& messages, bool add_generation_prompt = true,
                          const std::vector<std::string>& tools = {}) const;
  std::vector<int32_t> encode_chat(const std::vector<Message>& messages, bool add_generation_prompt = true,
                                   const std::vector<std::string>& tools = {}) const;

  int32_t vocab_size() const;
  bool is_special(int32_t id) const;           // a control token (<|im_end|>, ...)
  int32_t token_id(std::string_view text) const;  // the token whose text is exactly `text`, or -1
  int32_t eos_id() const;
  const std::string& chat_template() const;    // the template text the file carries (may be empty)

 private:
  friend struct detail::TokenizerAccess;
  explicit Tokenizer(std::shared_ptr<const tokenizer::Tokenizer> t) : t_(std::move(t)) {}
  std::shared_ptr<const tokenizer::Tokenizer> t_;
};

}  // namespace qwenedge
