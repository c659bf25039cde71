// Limits on untrusted input that every part of the library and its tools share.
#pragma once

namespace qwenedge {

// How deeply JSON from outside may nest: request bodies, tool definitions and call arguments
// (Message::tool_calls, GenerateOptions::tools, the C API's qwen_message), tokenizer files.
// Arrays and objects nested in each other count from the outermost: {"a": [1]} is 2 levels, a
// scalar 0. Deeper input is refused with Error(kInvalidArgument) naming the limit: serializing,
// copying and comparing JSON recurse once per level, and a few tens of KB of "[[[[…" would
// otherwise overflow a thread's stack.
inline constexpr int kMaxJsonDepth = 128;

// For a callback of nlohmann::basic_json::parse(text, callback): true when `event` opens an
// array or object beyond kMaxJsonDepth. The callback is given the depth of the new container's
// parent (0 for the outermost container).
template <class Event>
constexpr bool opens_too_deep(int depth, Event event) {
  return (event == Event::object_start || event == Event::array_start) && depth >= kMaxJsonDepth;
}

}  // namespace qwenedge
