// Streaming detokenization never emits part of a character, and its output equals the batch
// decode however the input is split.
#include <catch2/catch.hpp>
#include <random>

#include "tokenizer/stream_decoder.hpp"
#include "tokenizer/utf8.hpp"
#include "tokenizer_test_util.hpp"

using namespace qwenedge::tokenizer;

namespace {
const std::string kFffd = "\xEF\xBF\xBD";
}  // namespace

TEST_CASE("stream decoder holds back partial characters", "[tokenizer][stream]") {
  QWENEDGE_REQUIRE_QWEN_TOKENIZER();
  const Tokenizer& tok = test::qwen_tokenizer();
  const std::vector<std::string> texts = {
      "😀👨‍👩‍👧‍👦🇨🇳🇺🇸👍🏽 emoji", "你好，世界！龘靐齉齾爩鱻麤", "𠀀𠀁𠀂𪚥𩸽", "こんにちは、안녕하세요", "🫠🫡🫶🦙",
      "mixed 中文 and 😀 text", "ภาษาไทย हिन्दी العربية", "\xF0\x9F\x98\x80\xE4\xB8\xAD"};
  size_t held_back = 0;
  for (const std::string& text : texts) {
    INFO("text: " << text);
    const auto ids = tok.encode(text);
    StreamDecoder dec(tok);
    std::string all;
    for (int32_t id : ids) {
      const std::string piece = dec.push(id);
      CHECK(is_valid_utf8(piece));
      if (piece.empty() || piece.size() < tok.token_bytes(id).size()) ++held_back;
      all += piece;
    }
    const std::string tail = dec.finish();
    CHECK(tail.empty());
    all += tail;
    CHECK(all == tok.decode(ids));
  }
  CHECK(held_back > 10);  // the texts do split characters across tokens
}

TEST_CASE("stream decoder skips special tokens on request", "[tokenizer][stream]") {
  QWENEDGE_REQUIRE_QWEN_TOKENIZER();
  const Tokenizer& tok = test::qwen_tokenizer();
  const auto ids = tok.encode("hi<|im_end|>", {.parse_special = true});
  StreamDecoder keep(tok), skip(tok, true);
  std::string a, b;
  for (int32_t id : ids) {
    a += keep.push(id);
    b += skip.push(id);
  }
  CHECK(a == "hi<|im_end|>");
  CHECK(b == "hi");
  CHECK_THROWS(keep.push(-1));
  CHECK_THROWS(keep.push(tok.vocab_size()));
}

TEST_CASE("utf8 replacement follows maximal subparts", "[tokenizer][stream]") {
  CHECK(to_valid_utf8("abc") == "abc");
  CHECK(to_valid_utf8("\xE2\x82" "A") == kFffd + "A");
  CHECK(to_valid_utf8("\xF0\x9F\x98") == kFffd);
  CHECK(to_valid_utf8("\xC0\x80") == kFffd + kFffd);
  CHECK(to_valid_utf8("\xED\xA0\x80") == kFffd + kFffd + kFffd);
  CHECK(to_valid_utf8("\xF4\x90\x80\x80") == kFffd + kFffd + kFffd + kFffd);
  CHECK(to_valid_utf8("\x80\xBF") == kFffd + kFffd);
  CHECK(to_valid_utf8("\xE4\xB8\xAD\xFF") == "\xE4\xB8\xAD" + kFffd);
  CHECK(to_valid_utf8("\xF0\x9F\x98\xE4\xB8\xAD") == kFffd + "\xE4\xB8\xAD");
  Utf8Stream s;
  std::string out;
  s.push("\xF0\x9F", out);
  CHECK(out.empty());
  CHECK(s.pending() == 2);
  s.push("\x98", out);
  CHECK(out.empty());
  s.push("\x80!", out);
  CHECK(out == "\xF0\x9F\x98\x80!");
  out.clear();
  s.push("\xE4\xB8", out);
  s.finish(out);
  CHECK(out == kFffd);
}

TEST_CASE("streamed bytes equal the batch result for any split", "[tokenizer][stream]") {
  std::mt19937 rng(12345);
  const std::vector<std::string> atoms = {"a", "\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", "\x80", "\xC3",
                                          "\xE4\xB8", "\xF0\x9F", "\xFF", "\xED\xA0\x80", "\xC0\xAF", "\xF4\x90"};
  for (int iter = 0; iter < 3000; ++iter) {
    std::string bytes;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int k = 0; k < n; ++k) bytes += atoms[rng() % atoms.size()];
    std::vector<std::string> chunks;
    for (size_t pos = 0; pos < bytes.size();) {
      const size_t len = std::min<size_t>(bytes.size() - pos, 1 + rng() % 4);
      chunks.push_back(bytes.substr(pos, len));
      pos += len;
    }
    Utf8Stream s;
    std::string out;
    for (const auto& c : chunks) {
      const size_t before = out.size();
      s.push(c, out);
      REQUIRE(is_valid_utf8(std::string_view(out).substr(before)));
    }
    s.finish(out);
    INFO("iteration " << iter);
    REQUIRE(out == to_valid_utf8(bytes));
  }
}
