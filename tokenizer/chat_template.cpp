// The statements below follow the Jinja template's branches one for one; the comments quote
// the conditions they stand for.
#include "tokenizer/chat_template.hpp"

#include <nlohmann/json.hpp>

#include "qwenedge/error.hpp"
#include "tokenizer/python_json.hpp"
#include "tokenizer/tokenizer.hpp"

namespace qwenedge::tokenizer {
namespace {

constexpr std::string_view kImStart = "<|im_start|>";
constexpr std::string_view kImEnd = "<|im_end|>";

class Writer {
 public:
  explicit Writer(ChatPrompt& p) : p_(p) {}
  Writer& text(std::string_view s) {
    p_.text += s;
    return *this;
  }
  size_t specials() const { return p_.specials.size(); }
  Writer& special(std::string_view s) {
    p_.specials.push_back({p_.text.size(), s.size()});
    p_.text += s;
    return *this;
  }

 private:
  ChatPrompt& p_;
};

std::string render_arguments(const std::string& arguments) {
  if (nlohmann::ordered_json::accept(arguments)) return python_json_dumps(arguments, "tool call arguments");
  // Not JSON: the template would be given a plain string, and tojson quotes it.
  return python_json_dumps(nlohmann::json(arguments).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                           "tool call arguments");
}

}  // namespace

ChatPrompt render_chat(std::span<const ChatMessage> messages, const ChatOptions& options) {
  if (messages.empty()) throw Error(ErrorCode::kInvalidArgument, "chat: no messages to render");
  ChatPrompt prompt;
  Writer w(prompt);
  const bool first_is_system = messages[0].role == "system";
  const std::string& system = first_is_system ? messages[0].content : options.default_system;

  if (!options.tools.empty()) {  // {%- if tools %}
    w.special(kImStart).text("system\n").text(system);
    w.text("\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
           "You are provided with function signatures within <tools></tools> XML tags:\n<tools>");
    for (size_t i = 0; i < options.tools.size(); ++i) {
      w.text("\n").text(python_json_dumps(options.tools[i], "tools[" + std::to_string(i) + "]"));
    }
    w.text("\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
           "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
           "<args-json-object>}\n</tool_call>")
        .special(kImEnd)
        .text("\n");
  } else {
    w.special(kImStart).text("system\n").text(system).special(kImEnd).text("\n");
  }

  prompt.blocks.reserve(messages.size());
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    const bool is_assistant = m.role == "assistant";
    // Where this message's block begins, if it begins one: its <|im_start|> is the next special.
    size_t block = ChatPrompt::kNoBlock;
    // (role == "user") or (role == "system" and not loop.first) or (role == "assistant" and not tool_calls)
    if (m.role == "user" || (m.role == "system" && i != 0) || (is_assistant && m.tool_calls.empty())) {
      block = w.specials();
      w.special(kImStart).text(m.role).text("\n").text(m.content).special(kImEnd).text("\n");
    } else if (m.role == "system") {
      block = 0;  // the header rendered it
    } else if (is_assistant) {
      block = w.specials();
      w.special(kImStart).text(m.role);
      if (!m.content.empty()) w.text("\n").text(m.content);
      for (const ToolCall& call : m.tool_calls) {
        w.text("\n<tool_call>\n{\"name\": \"").text(call.name).text("\", \"arguments\": ");
        w.text(render_arguments(call.arguments)).text("}\n</tool_call>");
      }
      w.special(kImEnd).text("\n");
    } else if (m.role == "tool") {
      // (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool")
      if (i == 0 || messages[i - 1].role != "tool") {
        block = w.specials();
        w.special(kImStart).text("user");
      }
      w.text("\n<tool_response>\n").text(m.content).text("\n</tool_response>");
      // loop.last or (messages[loop.index0 + 1].role != "tool")
      if (i + 1 == messages.size() || messages[i + 1].role != "tool") w.special(kImEnd).text("\n");
    }
    prompt.blocks.push_back(block);
  }
  if (options.add_generation_prompt) w.special(kImStart).text("assistant\n");
  return prompt;
}

std::vector<int32_t> encode_chat(const Tokenizer& tokenizer, const ChatPrompt& prompt, std::vector<size_t>* special_ids_at) {
  if (special_ids_at) special_ids_at->clear();
  std::vector<int32_t> ids;
  ids.reserve(prompt.text.size() / 3 + 8);
  const std::string_view text = prompt.text;
  size_t pos = 0;
  for (const ChatPrompt::Span& s : prompt.specials) {
    if (s.offset < pos || s.offset + s.length > text.size()) {
      throw Error(ErrorCode::kInvalidArgument, "chat: special token spans out of order or out of range");
    }
    tokenizer.encode_append(text.substr(pos, s.offset - pos), ids, {.parse_special = false});
    const std::string_view name = text.substr(s.offset, s.length);
    const int32_t id = tokenizer.token_id(name);
    if (id < 0) throw Error(ErrorCode::kBadModelFile, "tokenizer vocab: no token '" + std::string(name) + "' for the chat template");
    if (special_ids_at) special_ids_at->push_back(ids.size());
    ids.push_back(id);
    pos = s.offset + s.length;
  }
  tokenizer.encode_append(text.substr(pos), ids, {.parse_special = false});
  return ids;
}

}  // namespace qwenedge::tokenizer
