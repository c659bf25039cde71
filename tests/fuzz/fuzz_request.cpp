// libFuzzer target for qwen-server's request handling up to the prompt: any byte string as a
// request body must be refused with ApiError or qwenedge::Error, or become a prompt, as the
// server does it:
//   parse_request_body -> parse_chat_request / parse_completion_request (default Limits)
//   -> chat: render_chat + encode_chat with the request's tools; completion: encode, special
//      tokens parsed
// Any other exception escapes and is a finding. The error body of a refusal must dump as strict
// JSON (valid UTF-8) and stay small. An accepted chat that offers tools also has its last
// message split as if it were the answer, and the chat completion built from it.
// The first input byte selects the endpoint (bit 0: completion); the rest is the body.
//
// Uses the Qwen2.5 tokenizer from $QWENEDGE_SHARED_DIR/qwen2.5-0.5b-instruct (default: the
// shared folder beside this checkout), as fuzz_tokenizer does; without it prompts are rendered
// but not encoded.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "qwen-server/openai_api.hpp"
#include "qwen-server/tool_calls.hpp"
#include "qwenedge/error.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/vocab.hpp"

namespace {

using namespace qwenedge;
using namespace qwenedge::server;

#define FUZZ_CHECK(cond)                                                 \
  do {                                                                   \
    if (!(cond)) {                                                       \
      std::fprintf(stderr, "fuzz_request: check failed: %s\n", #cond);   \
      __builtin_trap();                                                  \
    }                                                                    \
  } while (0)

// Largest error message expected: a path of kMaxJsonDepth shortened keys, quoted twice.
constexpr size_t kMaxMessageBytes = 64 * 1024;

// The Qwen2.5 tokenizer, or null when its files are not there.
const tokenizer::Tokenizer* qwen_tokenizer() {
  static const std::unique_ptr<tokenizer::Tokenizer> tok = []() -> std::unique_ptr<tokenizer::Tokenizer> {
    std::filesystem::path dir;
    if (const char* env = std::getenv("QWENEDGE_SHARED_DIR")) {
      dir = env;
    } else {
      dir = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().parent_path() / "shared";
    }
    dir /= "qwen2.5-0.5b-instruct";
    if (!std::filesystem::exists(dir / "tokenizer.json")) {
      std::fprintf(stderr, "fuzz_request: no Qwen2.5 tokenizer found, prompts are only rendered\n");
      return nullptr;
    }
    std::fprintf(stderr, "fuzz_request: using %s\n", dir.c_str());
    return std::make_unique<tokenizer::Tokenizer>(tokenizer::load_vocab_from_hf(
        (dir / "tokenizer.json").string(), (dir / "tokenizer_config.json").string()));
  }();
  return tok.get();
}

// What Prompt::chat does with a parsed request.
void chat_prompt(const ParsedRequest& r) {
  std::vector<tokenizer::ChatMessage> chat;
  for (const Message& m : r.messages) {
    tokenizer::ChatMessage c{m.role, m.content, {}};
    for (const ToolCall& t : m.tool_calls) c.tool_calls.push_back({t.name, t.arguments});
    chat.push_back(std::move(c));
  }
  const tokenizer::ChatPrompt prompt = tokenizer::render_chat(chat, {.add_generation_prompt = true, .tools = r.options.tools});
  if (const tokenizer::Tokenizer* tok = qwen_tokenizer()) FUZZ_CHECK(!tokenizer::encode_chat(*tok, prompt).empty());
}

// The answer side of a request with tools: its last message's content taken as the answer.
void answer_with_tools(const ParsedRequest& r) {
  Result result;
  result.text = r.messages.back().content;
  const json completion = chat_completion({"chatcmpl-fuzz", 0, r.model}, result, true);
  (void)completion.dump(-1, ' ', false, json::error_handler_t::replace);  // as the server sends it
  ToolCallSplitter splitter;
  int index = 0;
  for (const AnswerPiece& p : splitter.push(result.text)) (void)piece_delta(p, p.call ? index++ : index).dump();
  for (const AnswerPiece& p : splitter.finish()) (void)piece_delta(p, p.call ? index++ : index).dump();
}

void handle(bool completion, std::string_view body) {
  const json parsed = parse_request_body(body);
  const Limits limits;
  const ParsedRequest r = completion ? parse_completion_request(parsed, limits) : parse_chat_request(parsed, limits);
  if (completion) {
    if (const tokenizer::Tokenizer* tok = qwen_tokenizer()) (void)tok->encode(r.prompt, {.parse_special = true});
    return;
  }
  chat_prompt(r);
  if (r.tool_calls) answer_with_tools(r);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  qwen_tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool completion = (data[0] & 1) != 0;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    handle(completion, body);
  } catch (const ApiError& e) {
    FUZZ_CHECK(e.status == 400);
    FUZZ_CHECK(!e.message.empty() && e.message.size() <= kMaxMessageBytes);
    (void)error_body(e).dump();  // strict: throws (a finding) unless the message is valid UTF-8
  } catch (const Error& e) {
    // The chat template refused what the parser let through (the server answers 400 too); any
    // other kind of failure is a bug.
    FUZZ_CHECK(e.code() == ErrorCode::kInvalidArgument);
  }
  return 0;
}
