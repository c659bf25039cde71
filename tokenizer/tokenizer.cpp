#include "tokenizer/tokenizer.hpp"

#include <algorithm>
#include <cstring>

#include "qwenedge/error.hpp"
#include "tokenizer/normalize.hpp"
#include "tokenizer/pretokenize.hpp"
#include "tokenizer/tokenizer_impl.hpp"
#include "tokenizer/utf8.hpp"

namespace qwenedge::tokenizer {
namespace detail {

TokenizerImpl::TokenizerImpl(const Vocab& vocab)
    : bpe_(vocab),
      types_(vocab.types),
      bos_id_(vocab.bos_id),
      eos_id_(vocab.eos_id),
      pad_id_(vocab.pad_id),
      add_bos_(vocab.add_bos),
      chat_template_(vocab.chat_template) {
  if (vocab.pre != "qwen2" && !vocab.pre.empty()) {
    // Other pre-tokenizers split differently; silently using ours would give wrong ids.
    throw Error(ErrorCode::kUnsupported, "tokenizer pre-tokenizer '" + vocab.pre + "' is not supported (only qwen2)");
  }
  const int32_t n = bpe_.size();
  for (int32_t id : {bos_id_, eos_id_, pad_id_}) {
    if (id < -1 || id >= n) {
      throw Error(ErrorCode::kBadModelFile, "tokenizer vocab: special token id " + std::to_string(id) +
                                                " is outside the vocab (size " + std::to_string(n) + ")");
    }
  }
  for (int32_t id = 0; id < n; ++id) {
    const TokenType t = types_[static_cast<size_t>(id)];
    if ((t == TokenType::kControl || t == TokenType::kUserDefined) && !bpe_.token_bytes(id).empty()) {
      added_.push_back({bpe_.token_bytes(id), id, t == TokenType::kControl});
    }
  }
  std::stable_sort(added_.begin(), added_.end(), [](const AddedToken& a, const AddedToken& b) {
    if (a.text[0] != b.text[0]) return static_cast<uint8_t>(a.text[0]) < static_cast<uint8_t>(b.text[0]);
    return a.text.size() > b.text.size();
  });
  for (size_t i = 0; i < added_.size();) {
    const auto b = static_cast<uint8_t>(added_[i].text[0]);
    size_t j = i;
    while (j < added_.size() && static_cast<uint8_t>(added_[j].text[0]) == b) ++j;
    added_by_byte_[b] = {static_cast<uint32_t>(i), static_cast<uint32_t>(j)};
    i = j;
  }
}

void TokenizerImpl::encode_plain(std::string_view text, std::vector<int32_t>& ids) const {
  if (text.empty()) return;
  std::string normalized;
  if (!is_nfc_quick(text)) {
    normalize_nfc_append(text, normalized);
    text = normalized;
  }
  std::vector<std::string_view> pieces;
  pieces.reserve(text.size() / 4 + 1);
  pretokenize_qwen2(text, pieces);
  for (std::string_view piece : pieces) bpe_.encode_piece(piece, ids);
}

void TokenizerImpl::encode(std::string_view text, bool parse_special, std::vector<int32_t>& ids) const {
  size_t plain_start = 0;
  const size_t n = text.size();
  for (size_t i = 0; i < n; ++i) {
    const auto [first, last] = added_by_byte_[static_cast<uint8_t>(text[i])];
    if (first == last) continue;
    // Leftmost-longest: candidates for this byte are sorted longest first.
    for (uint32_t k = first; k < last; ++k) {
      const AddedToken& t = added_[k];
      if (t.special && !parse_special) continue;
      if (t.text.size() > n - i || std::memcmp(text.data() + i, t.text.data(), t.text.size()) != 0) continue;
      encode_plain(text.substr(plain_start, i - plain_start), ids);
      ids.push_back(t.id);
      i += t.text.size() - 1;
      plain_start = i + 1;
      break;
    }
  }
  encode_plain(text.substr(plain_start), ids);
}

}  // namespace detail

Tokenizer::Tokenizer(const Vocab& vocab) : impl_(std::make_unique<detail::TokenizerImpl>(vocab)) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  impl_->encode(text, options.parse_special, ids);
  return ids;
}

void Tokenizer::encode_append(std::string_view text, std::vector<int32_t>& ids, const EncodeOptions& options) const {
  impl_->encode(text, options.parse_special, ids);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, const DecodeOptions& options) const {
  std::string bytes;
  const int32_t n = vocab_size();
  for (const int32_t id : ids) {
    if (id < 0 || id >= n) {
      throw Error(ErrorCode::kInvalidArgument,
                  "decode: token id " + std::to_string(id) + " is outside the vocab (size " + std::to_string(n) + ")");
    }
    const TokenType t = impl_->types_[static_cast<size_t>(id)];
    if (t == TokenType::kUnused || (options.skip_special && t == TokenType::kControl)) continue;
    bytes += impl_->bpe_.token_bytes(id);
  }
  if (options.raw_bytes || is_valid_utf8(bytes)) return bytes;
  return to_valid_utf8(bytes);
}

int32_t Tokenizer::vocab_size() const { return impl_->bpe_.size(); }

std::string_view Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= vocab_size() || impl_->types_[static_cast<size_t>(id)] == TokenType::kUnused) return {};
  return impl_->bpe_.token_bytes(id);
}

TokenType Tokenizer::token_type(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return TokenType::kUnused;
  return impl_->types_[static_cast<size_t>(id)];
}

int32_t Tokenizer::token_id(std::string_view text) const {
  for (const detail::AddedToken& t : impl_->added_) {
    if (t.text == text) return t.id;
  }
  return impl_->bpe_.find(text);
}

int32_t Tokenizer::bos_id() const { return impl_->bos_id_; }
int32_t Tokenizer::eos_id() const { return impl_->eos_id_; }
int32_t Tokenizer::pad_id() const { return impl_->pad_id_; }
bool Tokenizer::add_bos() const { return impl_->add_bos_; }
const std::string& Tokenizer::chat_template() const { return impl_->chat_template_; }

}  // namespace qwenedge::tokenizer
