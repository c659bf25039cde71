// libFuzzer target for the tokenizer: any byte string must encode without crashing, and
//   decode(encode(x), raw bytes) == NFC(x)          (invalid UTF-8 bytes kept in place)
//   decode(encode(x)) == to_valid_utf8(NFC(x))      (valid UTF-8 out, U+FFFD for bad bytes)
//   NFC(NFC(x)) == NFC(x)
//   streaming decode == batch decode, in whole characters only
//   the array and heap merge loops agree
//   a chat with x as content renders and round-trips; x as a tool definition never crashes
// The first input byte selects options; the rest is the text.
//
// Uses the Qwen2.5 tokenizer from $QWENEDGE_SHARED_DIR/qwen2.5-0.5b-instruct (default: the
// shared folder beside this checkout), or a small built-in vocab when that is missing.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "qwenedge/error.hpp"
#include "tokenizer/byte_level.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/normalize.hpp"
#include "tokenizer/pretokenize.hpp"
#include "tokenizer/python_json.hpp"
#include "tokenizer/stream_decoder.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/tokenizer_impl.hpp"
#include "tokenizer/utf8.hpp"

namespace {

using namespace qwenedge::tokenizer;

#define FUZZ_CHECK(cond)                                                    \
  do {                                                                      \
    if (!(cond)) {                                                          \
      std::fprintf(stderr, "fuzz_tokenizer: check failed: %s\n", #cond);    \
      __builtin_trap();                                                     \
    }                                                                       \
  } while (0)

Vocab builtin_vocab() {
  Vocab v;
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(byte_level_encode(std::string(1, static_cast<char>(b))));
    v.types.push_back(TokenType::kNormal);
  }
  const char* merges[] = {"Ġ t", "h e", "Ġt he", "i n", "in g", "Ġ a", "e r", "Ġ Ġ", "ĠĠ ĠĠ", "ä ¸", "ä¸ Ń"};
  for (const char* m : merges) {
    const std::string s = m;
    const size_t sp = s.find(' ');
    v.tokens.push_back(s.substr(0, sp) + s.substr(sp + 1));
    v.types.push_back(TokenType::kNormal);
    v.merges.push_back(s);
  }
  for (const char* special : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
    v.tokens.push_back(special);
    v.types.push_back(TokenType::kControl);
  }
  v.tokens.push_back("<tool_call>");
  v.types.push_back(TokenType::kUserDefined);
  return v;
}

const Tokenizer& tokenizer() {
  static const std::unique_ptr<Tokenizer> tok = [] {
    std::filesystem::path dir;
    if (const char* env = std::getenv("QWENEDGE_SHARED_DIR")) {
      dir = env;
    } else {
      dir = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().parent_path() / "shared";
    }
    dir /= "qwen2.5-0.5b-instruct";
    if (std::filesystem::exists(dir / "tokenizer.json")) {
      std::fprintf(stderr, "fuzz_tokenizer: using %s\n", dir.c_str());
      return std::make_unique<Tokenizer>(
          load_vocab_from_hf((dir / "tokenizer.json").string(), (dir / "tokenizer_config.json").string()));
    }
    std::fprintf(stderr, "fuzz_tokenizer: no Qwen2.5 tokenizer found, using a built-in vocab\n");
    return std::make_unique<Tokenizer>(builtin_vocab());
  }();
  return *tok;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Tokenizer& tok = tokenizer();
  const uint8_t flags = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  const std::string nfc = normalize_nfc(text);
  FUZZ_CHECK(normalize_nfc(nfc) == nfc);
  FUZZ_CHECK(is_valid_utf8(text) == is_valid_utf8(nfc));

  const std::vector<int32_t> ids = tok.encode(text, {.parse_special = (flags & 1) != 0});
  for (int32_t id : ids) FUZZ_CHECK(id >= 0 && id < tok.vocab_size());
  FUZZ_CHECK(tok.decode(ids, {.raw_bytes = true}) == nfc);
  const std::string decoded = tok.decode(ids);
  FUZZ_CHECK(is_valid_utf8(decoded));
  FUZZ_CHECK(decoded == to_valid_utf8(nfc));

  StreamDecoder stream(tok);
  std::string streamed;
  for (int32_t id : ids) {
    const std::string piece = stream.push(id);
    FUZZ_CHECK(is_valid_utf8(piece));
    streamed += piece;
  }
  streamed += stream.finish();
  FUZZ_CHECK(streamed == decoded);

  if (flags & 2) {
    std::vector<std::string_view> pieces;
    pretokenize_qwen2(nfc, pieces);
    size_t covered = 0;
    for (std::string_view p : pieces) {
      FUZZ_CHECK(!p.empty() && p.data() == nfc.data() + covered);
      covered += p.size();
      if (p.size() <= 128) {
        std::vector<int32_t> a, b;
        tok.impl().bpe().merge_small(p, a);
        tok.impl().bpe().merge_heap(p, b);
        FUZZ_CHECK(a == b);
      }
    }
    FUZZ_CHECK(covered == nfc.size());
  }

  if (flags & 4) {
    const std::vector<ChatMessage> chat = {{"user", std::string(text), {}},
                                           {"assistant", "", {{"f", std::string(text)}}},
                                           {"tool", std::string(text), {}}};
    const ChatPrompt prompt = render_chat(chat, {});
    const std::vector<int32_t> chat_ids = encode_chat(tok, prompt);
    FUZZ_CHECK(tok.decode(chat_ids, {.raw_bytes = true}) == normalize_nfc(prompt.text));
    try {
      ChatOptions with_tool;
      with_tool.tools = {std::string(text)};
      (void)render_chat(chat, with_tool);
      (void)python_json_dumps(text, "input");
    } catch (const qwenedge::Error&) {
      // Not JSON: a clean error is the expected outcome.
    }
  }
  return 0;
}
