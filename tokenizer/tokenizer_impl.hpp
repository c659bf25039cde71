// The state behind Tokenizer (private to the tokenizer library and its tests).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/bpe.hpp"
#include "tokenizer/vocab.hpp"

namespace qwenedge::tokenizer::detail {

struct AddedToken {
  std::string_view text;  // view into the Bpe arena
  int32_t id;
  bool special;  // control token: matched only when EncodeOptions::parse_special is set
};

class TokenizerImpl {
 public:
  explicit TokenizerImpl(const Vocab& vocab);

  void encode(std::string_view text, bool parse_special, std::vector<int32_t>& ids) const;
  // Encodes text that holds no added tokens: NFC, pre-tokenizer, BPE.
  void encode_plain(std::string_view text, std::vector<int32_t>& ids) const;

  const Bpe& bpe() const { return bpe_; }

  Bpe bpe_;
  std::vector<TokenType> types_;
  std::vector<AddedToken> added_;  // sorted by first byte, then longest first
  // For each first byte, the range of added_ starting with it (begin, end).
  std::array<std::pair<uint32_t, uint32_t>, 256> added_by_byte_{};
  int32_t bos_id_ = -1, eos_id_ = -1, pad_id_ = -1;
  bool add_bos_ = false;
  std::string chat_template_;
};

}  // namespace qwenedge::tokenizer::detail
