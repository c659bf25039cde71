#include "tokenizer/stream_decoder.hpp"

#include <algorithm>

#include "qwenedge/error.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/utf8.hpp"

namespace qwenedge::tokenizer {
namespace {
constexpr char kReplacement[] = "\xEF\xBF\xBD";
}

void Utf8Stream::push(std::string_view bytes, std::string& out) {
  // Complete the held-back character first, one byte at a time (at most 3 bytes are needed).
  while (pending_len_ > 0 && !bytes.empty()) {
    pending_[pending_len_++] = bytes.front();
    bytes.remove_prefix(1);
    const Utf8Step s = utf8_step(reinterpret_cast<const unsigned char*>(pending_), pending_len_);
    if (s.status == Utf8Status::kIncomplete) continue;
    if (s.status == Utf8Status::kValid) {
      out.append(pending_, pending_len_);
      pending_len_ = 0;
      break;
    }
    // Invalid: the first s.len bytes are one maximal subpart; the rest starts over.
    out += kReplacement;
    const std::string rest(pending_ + s.len, pending_len_ - s.len);
    pending_len_ = 0;
    push(rest, out);
  }
  if (bytes.empty()) return;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t run = 0;
  for (size_t i = 0; i < n;) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    const Utf8Step s = utf8_step(p + i, n - i);
    if (s.status == Utf8Status::kValid) {
      i += s.len;
      continue;
    }
    out.append(bytes.data() + run, i - run);
    if (s.status == Utf8Status::kIncomplete) {  // the tail: hold it back
      pending_len_ = std::min<size_t>(s.len, sizeof pending_ - 1);  // an incomplete tail is 1..3 bytes
      for (size_t k = 0; k < pending_len_; ++k) pending_[k] = bytes[i + k];
      return;
    }
    out += kReplacement;
    i += s.len;
    run = i;
  }
  out.append(bytes.data() + run, n - run);
}

void Utf8Stream::finish(std::string& out) {
  if (pending_len_ > 0) out += kReplacement;  // an incomplete sequence is one maximal subpart
  pending_len_ = 0;
}

std::string StreamDecoder::push(int32_t id) {
  std::string out;
  if (id < 0 || id >= tokenizer_->vocab_size()) {
    throw Error(ErrorCode::kInvalidArgument, "stream decode: token id " + std::to_string(id) +
                                                 " is outside the vocab (size " +
                                                 std::to_string(tokenizer_->vocab_size()) + ")");
  }
  if (skip_special_ && tokenizer_->is_special(id)) return out;
  stream_.push(tokenizer_->token_bytes(id), out);
  return out;
}

std::string StreamDecoder::finish() {
  std::string out;
  stream_.finish(out);
  return out;
}

}  // namespace qwenedge::tokenizer
