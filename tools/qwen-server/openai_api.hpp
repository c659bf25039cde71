// The OpenAI wire format: request bodies in, responses, stream chunks and errors out.
// Requests are untrusted input: every field is type- and range-checked and a bad one is named
// in an ApiError (the `param` of the OpenAI error object).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "qwenedge/session.hpp"
#include "qwen-server/tool_calls.hpp"

namespace qwenedge::server {

using nlohmann::json;

// `message` is the whole text, NUL bytes included (it may quote request text); what() is the
// same text as a C string, cut at the first NUL: for logs only.
struct ApiError : std::runtime_error {
  ApiError(int status_, std::string message_, std::string param_ = {}, std::string code_ = {},
           std::string type_ = "invalid_request_error")
      : std::runtime_error(message_), status(status_), message(std::move(message_)), param(std::move(param_)),
        code(std::move(code_)), type(std::move(type_)) {}
  int status;
  std::string message, param, code, type;
};

// {"error": {"message", "type", "param", "code"}}; empty param/code become null. The message is
// made valid UTF-8 (bad bytes become U+FFFD), so the body dumps with any error handler.
json error_body(const std::string& message, const std::string& type, const std::string& param, const std::string& code);
json error_body(const ApiError& e);

// Request text to quote in an error message: at most kQuoteBytes bytes of it (cut between UTF-8
// characters) and "…" when it is longer, so that a huge field does not make a huge error body.
inline constexpr size_t kQuoteBytes = 100;
std::string quote_text(std::string_view text);

struct Limits {
  int max_tokens_limit = 4096;   // largest max_tokens a request may ask for; also the default
  int64_t max_prompt_tokens = 0; // 0 = the context decides
  size_t max_messages = 1024;    // entries of a chat request's `messages`; 0 = no limit
  size_t max_tools = 128;        // entries of a chat request's `tools`; 0 = no limit
};

struct ParsedRequest {
  bool chat = true;
  std::vector<Message> messages;  // chat
  std::string prompt;             // completion
  GenerateOptions options;
  bool stream = false;
  bool include_usage = false;
  bool tool_calls = false;  // the request offers tools: <tool_call> blocks become message.tool_calls
  std::string model;  // as sent ("" when absent)
};

// A request body parsed. Throws ApiError(400): `invalid_json` when it is not JSON (a number too
// large for a double included), and one naming the field when arrays and objects nest more than
// kMaxJsonDepth levels deep (refused as the parser meets them, so no value that deep is built).
json parse_request_body(std::string_view text);

// Throws ApiError(400) naming the first bad field; a body nested too deeply (one not parsed by
// parse_request_body) is refused the same way, and more messages or tools than `limits` allow
// with code too_many_messages / too_many_tools before any of them is looked at.
ParsedRequest parse_chat_request(const json& body, const Limits& limits);
ParsedRequest parse_completion_request(const json& body, const Limits& limits);

// OpenAI finish_reason of a result.
const char* finish_reason(FinishReason r);
inline constexpr char kToolCallsFinish[] = "tool_calls";  // the answer ended with tool calls

struct ResponseIds {
  std::string id;       // "chatcmpl-…" or "cmpl-…"
  int64_t created = 0;  // unix seconds
  std::string model;
};

// With `tool_calls`, the answer's <tool_call> blocks become message.tool_calls (content: the
// text around them, null when there is none; finish_reason "tool_calls").
json chat_completion(const ResponseIds& ids, const Result& r, bool tool_calls = false);
json text_completion(const ResponseIds& ids, const Result& r);
json usage(const Result& r);

// Stream chunks. `delta` chunks carry text; the last one carries the finish reason.
json chat_chunk(const ResponseIds& ids, const json& delta, const char* finish);
json completion_chunk(const ResponseIds& ids, const std::string& text, const char* finish);
json usage_chunk(const ResponseIds& ids, bool chat, const Result& r);

// One tool call as OpenAI writes it in message.tool_calls; `index` only in stream deltas.
json tool_call_json(const ParsedToolCall& call, const std::string& id, std::optional<int> index = std::nullopt);
// The `delta` of a stream chunk for one piece of a chat answer: content, or one whole tool call
// (index: the calls before it in the answer).
json piece_delta(const AnswerPiece& piece, int index);

}  // namespace qwenedge::server
