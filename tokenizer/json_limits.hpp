// How deeply JSON from outside may nest: request bodies, tool definitions and call arguments,
// tokenizer files. nlohmann::json parses and destroys values without recursion, but serializing,
// copying and comparing them recurse once per level, so a document nested some ten thousand
// levels deep (a few tens of KB of "[[[[…") would overflow a thread's stack. Such a document is
// refused as the parser meets it, before any value of it is built that deep.
#pragma once

namespace qwenedge::tokenizer {

// Arrays and objects nested in each other, counted from the outermost: {"a": [1]} is 2 levels,
// a scalar 0. Every parser of outside JSON in the project refuses more.
inline constexpr int kMaxJsonDepth = 128;

// For a callback of nlohmann::basic_json::parse(text, callback): true when `event` opens an
// array or object beyond kMaxJsonDepth. The callback is given the depth of the new container's
// parent (0 for the outermost container).
template <class Event>
constexpr bool opens_too_deep(int depth, Event event) {
  return (event == Event::object_start || event == Event::array_start) && depth >= kMaxJsonDepth;
}

}  // namespace qwenedge::tokenizer
