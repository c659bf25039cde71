// Tool calls in Qwen2.5's answers. Its chat template asks for Hermes-style blocks,
//
//   <tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>
//
// one per call, possibly after some text. These become OpenAI tool calls; the text outside them
// stays the answer's content. A block that is not a JSON object with a string "name" (and object
// arguments), or that never closes, is text like any other: an answer is never lost to parsing.
// Whitespace before a parsed block, and between the last one and the end, only separates it
// from its neighbours and is dropped.
//
// Limitation: the first "</tool_call>" closes a block, even inside a JSON string of it; such a
// block then does not parse and is returned as text.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qwenedge::server {

struct ParsedToolCall {
  std::string name;
  std::string arguments;  // JSON text of an object, as OpenAI's function.arguments

  bool operator==(const ParsedToolCall&) const = default;
};

// A piece of an answer, in order: text, or one complete tool call.
struct AnswerPiece {
  std::string text;                    // when !call
  std::optional<ParsedToolCall> call;

  bool operator==(const AnswerPiece&) const = default;
};

// Splits an answer, fed as it is generated, into text and tool calls. Text is passed on as soon
// as it can no longer belong to a block (only a possible "<tool_call>" start and the whitespace
// before it are held); a block is held until it closes. Any split of the same answer into pushes
// gives the same pieces, up to how adjacent text pieces are cut.
class ToolCallSplitter {
 public:
  std::vector<AnswerPiece> push(std::string_view text);
  // The answer ended: an unclosed block and any held text come out as text.
  std::vector<AnswerPiece> finish();

 private:
  void run(bool final, std::vector<AnswerPiece>& out);

  std::string pending_;     // text not yet passed on (inside a block: the block after its tag)
  std::string held_space_;  // whitespace before the open block; restored when it is text after all
  bool in_block_ = false;
  bool after_call_ = false;  // a block parsed and no text since: whitespace up to the end is dropped
};

struct ToolCallAnswer {
  std::string content;  // the text outside the parsed blocks
  std::vector<ParsedToolCall> calls;
};

// A whole answer at once (the same result as a ToolCallSplitter fed all of it).
ToolCallAnswer split_tool_calls(std::string_view text);

// The JSON between the tags, or nullopt when it is not {"name": "<non-empty>", "arguments": {…}}
// ("arguments" may be absent, or a string holding a JSON object, as OpenAI writes it).
std::optional<ParsedToolCall> parse_tool_call(std::string_view body);

// "call_" and 24 random letters and digits.
std::string new_tool_call_id();

}  // namespace qwenedge::server
