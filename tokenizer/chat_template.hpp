// Qwen2.5's ChatML chat template, written out by hand: render_chat produces, byte for byte,
// what the model's Jinja template (tokenizer_config.json "chat_template") renders under
// Hugging Face's apply_chat_template, tools and tool calls included.
//
//   <|im_start|>system\n{system or the default}<|im_end|>\n
//   <|im_start|>user\n{content}<|im_end|>\n
//   <|im_start|>assistant\n{content}<|im_end|>\n        (or \n<tool_call>\n{...}\n</tool_call> per call)
//   <|im_start|>user\n<tool_response>\n{content}\n</tool_response><|im_end|>\n   (consecutive tool
//                                                     results share one user turn)
//   <|im_start|>assistant\n                             (add_generation_prompt)
//
// The output of a conversation is a prefix of the output of any continuation of it (apart from
// a trailing run of tool results, which the template closes only when the run ends), so the
// KV cache of an earlier turn can be reused.
//
// This header needs no JSON library: tool definitions and call arguments travel as JSON text
// and are re-serialized the way Python's json.dumps writes them (see python_json.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace qwenedge::tokenizer {

class Tokenizer;

inline constexpr char kQwenDefaultSystemPrompt[] =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

struct ToolCall {
  std::string name;
  // JSON text of the arguments value, normally an object such as {"location": "Paris"}; it is
  // rendered as tojson of that value. OpenAI-style clients send arguments as a string holding
  // JSON: pass that string's contents here. Text that is not valid JSON is rendered as a JSON
  // string (what the template does with a string value), never rejected; JSON nested deeper than
  // kMaxJsonDepth (json_limits.hpp) is refused.
  std::string arguments;
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" or "tool"; the template renders no other role
  std::string content;
  std::vector<ToolCall> tool_calls;  // assistant messages only
};

struct ChatOptions {
  bool add_generation_prompt = true;  // end with "<|im_start|>assistant\n"
  // Tool definitions, each the JSON text of one tool, e.g.
  // {"type": "function", "function": {"name": ..., "description": ..., "parameters": {...}}}.
  std::vector<std::string> tools;
  std::string default_system = kQwenDefaultSystemPrompt;  // used when messages[0] is not a system message
};

// Rendered text, plus where the template put special tokens. Only those byte ranges are
// special: the same text inside a message's content is ordinary text.
struct ChatPrompt {
  struct Span {
    size_t offset;
    size_t length;
  };
  static constexpr size_t kNoBlock = SIZE_MAX;
  std::string text;
  std::vector<Span> specials;
  // For each message, the index in `specials` of the <|im_start|> that begins its block (a
  // leading system message's is the system header's, 0), or kNoBlock for a tool result that
  // continues a run (it is inside the block of the run's first). A user block depends on nothing
  // around it, so a prompt with the turns before one dropped is the whole one cut at block starts.
  std::vector<size_t> blocks;
};

// Throws qwenedge::Error(kInvalidArgument) when messages is empty, a tool definition is not
// valid JSON, or a tool definition or call's arguments nest deeper than kMaxJsonDepth.
ChatPrompt render_chat(std::span<const ChatMessage> messages, const ChatOptions& options = {});

// Token ids of a rendered prompt: the template's special tokens become their ids; everything
// else, message contents included, is encoded with parse_special off, so a user cannot end a
// turn by typing "<|im_end|>". For contents free of special-token text the ids equal those of
// Hugging Face's tokenizer on the rendered text. Throws kBadModelFile when the vocab lacks a
// special token the template uses. When `special_ids_at` is not null it receives, for each of
// prompt.specials, the index in the ids of its token (each text between specials is encoded on
// its own, so these are where the ids can be cut and joined without re-encoding).
std::vector<int32_t> encode_chat(const Tokenizer& tokenizer, const ChatPrompt& prompt,
                                 std::vector<size_t>* special_ids_at = nullptr);

}  // namespace qwenedge::tokenizer
