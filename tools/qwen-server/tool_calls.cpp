// Finding Qwen2.5's <tool_call> blocks in generated text, whole or as it streams.
#include "qwen-server/tool_calls.hpp"

#include <random>

#include <nlohmann/json.hpp>

// The library's own nesting limit; its header is internal, so it is reached by its path.
#include "qwenedge/limits.hpp"

namespace qwenedge::server {
namespace {

using nlohmann::json;

constexpr std::string_view kOpen = "<tool_call>";
constexpr std::string_view kClose = "</tool_call>";
constexpr std::string_view kSpace = " \t\r\n";

void add_text(std::vector<AnswerPiece>& out, std::string_view text) {
  if (text.empty()) return;
  if (!out.empty() && !out.back().call) out.back().text += text;
  else out.push_back({std::string(text), std::nullopt});
}

// Length of the longest end of `s` that is the beginning of kOpen (and not all of it).
size_t partial_open(std::string_view s) {
  for (size_t n = std::min(s.size(), kOpen.size() - 1); n > 0; --n) {
    if (s.substr(s.size() - n) == kOpen.substr(0, n)) return n;
  }
  return 0;
}

// End of `s[0, end)` without its trailing whitespace.
size_t trim_end(std::string_view s, size_t end) {
  while (end > 0 && kSpace.find(s[end - 1]) != std::string_view::npos) --end;
  return end;
}

// The model's JSON text, or a discarded value when it is not JSON or nests deeper than
// kMaxJsonDepth (its arguments are dumped, which recurses per level, and the chat template
// would refuse them). No exceptions: not parsing is an expected outcome.
json parse_model_json(std::string_view text) {
  bool deep = false;
  const auto bounded = [&deep](int depth, json::parse_event_t event, json&) {
    deep = deep || opens_too_deep(depth, event);
    return !deep;  // what is discarded is never built
  };
  json j = json::parse(text, bounded, /*allow_exceptions=*/false);
  if (deep) return json(json::value_t::discarded);
  return j;
}

}  // namespace

std::optional<ParsedToolCall> parse_tool_call(std::string_view body) {
  const json j = parse_model_json(body);
  if (!j.is_object()) return std::nullopt;  // also a parse failure (discarded)
  const auto name = j.find("name");
  if (name == j.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) return std::nullopt;
  ParsedToolCall call{name->get<std::string>(), "{}"};
  if (const auto args = j.find("arguments"); args != j.end() && !args->is_null()) {
    if (args->is_object()) {
      call.arguments = args->dump();
    } else if (args->is_string() && parse_model_json(args->get<std::string>()).is_object()) {
      call.arguments = args->get<std::string>();
    } else {
      return std::nullopt;
    }
  }
  return call;
}

std::vector<AnswerPiece> ToolCallSplitter::push(std::string_view text) {
  std::vector<AnswerPiece> out;
  pending_ += text;
  run(false, out);
  return out;
}

std::vector<AnswerPiece> ToolCallSplitter::finish() {
  std::vector<AnswerPiece> out;
  run(true, out);
  return out;
}

void ToolCallSplitter::run(bool final, std::vector<AnswerPiece>& out) {
  for (;;) {
    if (in_block_) {
      const size_t close = pending_.find(kClose);
      if (close == std::string::npos) {
        if (!final) return;
        add_text(out, held_space_ + std::string(kOpen) + pending_);  // never closed: it was text
        held_space_.clear();
        pending_.clear();
        in_block_ = false;
        return;
      }
      const std::string_view body = std::string_view(pending_).substr(0, close);
      if (auto call = parse_tool_call(body)) {
        out.push_back({{}, std::move(call)});
        after_call_ = true;
      } else {
        add_text(out, held_space_ + std::string(kOpen) + std::string(body) + std::string(kClose));
      }
      held_space_.clear();
      pending_.erase(0, close + kClose.size());
      in_block_ = false;
      continue;
    }
    const size_t open = pending_.find(kOpen);
    if (open != std::string::npos) {
      const size_t end = trim_end(pending_, open);
      add_text(out, std::string_view(pending_).substr(0, end));
      held_space_ = pending_.substr(end, open - end);
      pending_.erase(0, open + kOpen.size());
      in_block_ = true;
      after_call_ = false;
      continue;
    }
    if (final) {
      // Whitespace after the last call only ends it.
      if (!after_call_ || pending_.find_first_not_of(kSpace) != std::string::npos) add_text(out, pending_);
      pending_.clear();
      return;
    }
    // Hold what may still become "<tool_call>", and the whitespace before it, which would then
    // be the block's separator.
    const size_t end = trim_end(pending_, pending_.size() - partial_open(pending_));
    add_text(out, std::string_view(pending_).substr(0, end));
    pending_.erase(0, end);
    after_call_ = after_call_ && end == 0;
    return;
  }
}

ToolCallAnswer split_tool_calls(std::string_view text) {
  ToolCallSplitter splitter;
  std::vector<AnswerPiece> pieces = splitter.push(text);
  for (AnswerPiece& p : splitter.finish()) pieces.push_back(std::move(p));
  ToolCallAnswer answer;
  for (AnswerPiece& p : pieces) {
    if (p.call) answer.calls.push_back(std::move(*p.call));
    else answer.content += p.text;
  }
  return answer;
}

std::string new_tool_call_id() {
  static constexpr std::string_view kChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<size_t> pick(0, kChars.size() - 1);
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += kChars[pick(rng)];
  return id;
}

}  // namespace qwenedge::server
