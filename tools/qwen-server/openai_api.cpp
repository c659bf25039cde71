// Parsing and writing the OpenAI chat/completions wire format.
#include "qwen-server/openai_api.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <span>
#include <string_view>

// The library's own nesting limit; its header is internal, so it is reached by its path.
#include "qwenedge/limits.hpp"

namespace qwenedge::server {
namespace {

[[noreturn]] void bad(const std::string& param, const std::string& message) { throw ApiError(400, message, param); }

bool utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// The text valid UTF-8, bad bytes replaced by U+FFFD: nlohmann's replacing serializer does the
// decoding (only error messages take this round trip).
std::string valid_utf8(const std::string& text) {
  return json::parse(json(text).dump(-1, ' ', false, json::error_handler_t::replace)).get<std::string>();
}

// An nlohmann exception's message without its "[json.exception.…] " prefix, its middle left out
// when long: the token it quotes ("last read: '…'", "number overflow parsing '…'") may be a
// megabyte of the body.
std::string json_error_text(const json::exception& e) {
  constexpr size_t kHead = 160, kTail = 60;
  std::string_view m = e.what();
  if (m.starts_with("[json.exception.")) {
    if (const size_t end = m.find("] "); end != std::string_view::npos) m.remove_prefix(end + 2);
  }
  if (m.size() <= kHead + kTail) return valid_utf8(std::string(m));
  size_t head = kHead, tail = m.size() - kTail;
  while (head > 0 && utf8_continuation(m[head])) --head;
  while (tail < m.size() && utf8_continuation(m[tail])) ++tail;
  return valid_utf8(std::string(m.substr(0, head)) + "…" + std::string(m.substr(tail)));
}

// One step of a path into a body: an element of an array or a member of an object.
struct Step {
  bool array = false;
  size_t index = 0;  // arrays: the element's
  std::string key;   // objects: the member's
};

// The fields whose values are free-form JSON, any index written "[]".
constexpr std::array<std::string_view, 2> kFreeJson = {"messages[].tool_calls[].function.arguments",
                                                       "tools[].function.parameters"};

// Keys are the request's own text, so each is shortened: a path stays small enough to quote.
std::string path_text(std::span<const Step> steps, bool any_index) {
  std::string out;
  for (const Step& s : steps) {
    if (s.array) {
      out += '[';
      if (!any_index) out += std::to_string(s.index);
      out += ']';
    } else {
      if (!out.empty()) out += '.';
      out += quote_text(s.key);
    }
  }
  return out;
}

// The field named when the body nests too deeply at `steps`: the free-form JSON field the
// nesting is in, else the top-level field ("" when the body itself is an array).
std::string deep_field(std::span<const Step> steps) {
  for (size_t n = 1; n <= steps.size(); ++n) {
    const std::string pattern = path_text(steps.first(n), true);
    if (std::find(kFreeJson.begin(), kFreeJson.end(), pattern) != kFreeJson.end()) return path_text(steps.first(n), false);
  }
  return steps.empty() || steps[0].array ? "" : quote_text(steps[0].key);
}

[[noreturn]] void too_deep(const std::string& param) {
  bad(param, (param.empty() ? std::string("the request body") : "'" + param + "'") + " nests arrays and objects more than " +
                 std::to_string(kMaxJsonDepth) + " levels deep (this server's limit)");
}

// JSON text of a request parsed, a container nested past kMaxJsonDepth refused as the parser
// meets it (ApiError 400), before a value that deep exists: serializing one would recurse once per
// level and could overflow the stack. `field` names the text's field; "" (the body): the field is
// found from where the nesting is. Text that is not JSON is ApiError 400 invalid_json, naming the
// field of a number too large for a double (nlohmann throws out_of_range, not parse_error, for it).
json parse_bounded(std::string_view text, const std::string& field) {
  std::vector<Step> open;  // the containers the parser is in, and where in each
  const auto next = [&open] {
    if (!open.empty()) ++open.back().index;
  };
  const auto walk = [&](int depth, json::parse_event_t event, json& parsed) {
    if (opens_too_deep(depth, event)) too_deep(field.empty() ? deep_field(open) : field);
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start: open.push_back({event == json::parse_event_t::array_start, 0, {}}); break;
      case json::parse_event_t::key: open.back().key = parsed.get<std::string>(); break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        open.pop_back();
        next();
        break;
      case json::parse_event_t::value: next(); break;
    }
    return true;
  };
  try {
    return json::parse(text, walk);
  } catch (const json::exception& e) {
    // Where a syntax error is, nlohmann's line and column say; a number's field is exact.
    const bool number = dynamic_cast<const json::out_of_range*>(&e) != nullptr;
    const std::string at = !number ? "" : field.empty() ? path_text(open, false) : field;
    throw ApiError(400, "the request body is not valid JSON: " + json_error_text(e) + (at.empty() ? "" : " (in '" + at + "')"),
                   at, "invalid_json");
  }
}

// The same limit for a body parsed elsewhere, checked without recursion.
void check_depth(const json& body) {
  if (!body.is_structured()) return;
  std::vector<std::pair<json::const_iterator, json::const_iterator>> open = {{body.cbegin(), body.cend()}};
  std::vector<Step> steps = {{body.is_array(), 0, {}}};
  while (!open.empty()) {
    auto& [it, end] = open.back();
    if (it == end) {
      open.pop_back();
      steps.pop_back();
      if (!open.empty()) {
        ++open.back().first;
        ++steps.back().index;
      }
      continue;
    }
    if (!steps.back().array) steps.back().key = it.key();
    const json& child = *it;
    if (!child.is_structured()) {
      ++it;
      ++steps.back().index;
      continue;
    }
    if (open.size() >= static_cast<size_t>(kMaxJsonDepth)) too_deep(deep_field(steps));
    open.emplace_back(child.cbegin(), child.cend());
    steps.push_back({child.is_array(), 0, {}});
  }
}

const json* field(const json& body, const char* name) {
  const auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

std::optional<double> number_in(const json& body, const char* name, double lo, double hi, bool lo_open = false) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) bad(name, std::string("'") + name + "' must be a number");
  const double d = v->get<double>();
  if (!std::isfinite(d) || d > hi || d < lo || (lo_open && d == lo)) {
    bad(name, std::string("'") + name + "' = " + v->dump() + " is out of range (" + (lo_open ? "(" : "[") +
                  json(lo).dump() + ", " + json(hi).dump() + "])");
  }
  return d;
}

template <class Lo, class Hi>
std::string range_text(Lo lo, Hi hi) {
  std::string out = "[";
  out += std::to_string(lo);
  out += ", ";
  out += std::to_string(hi);
  return out + "]";
}

// The 400 for a value of an integer field that is not an integer. Integers too large for 64 bits
// (1e30, 2^70) arrive as doubles: those are out of range, not "not an integer".
[[noreturn]] void not_integer(const char* name, const json& v, double lo, double hi, const std::string& range) {
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (d == std::floor(d) && (d < lo || d > hi)) {
      bad(name, std::string("'") + name + "' = " + v.dump() + " is out of range " + range);
    }
  }
  bad(name, std::string("'") + name + "' must be an integer");
}

std::optional<int64_t> integer_in(const json& body, const char* name, int64_t lo, int64_t hi) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) not_integer(name, *v, static_cast<double>(lo), static_cast<double>(hi), range_text(lo, hi));
  const bool huge = v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(hi);
  if (huge || v->get<int64_t>() < lo || v->get<int64_t>() > hi) {
    bad(name, std::string("'") + name + "' = " + v->dump() + " is out of range " + range_text(lo, hi));
  }
  return v->get<int64_t>();
}

// A seed is any 64-bit integer, signed or not (a negative one is taken modulo 2^64).
uint64_t seed_of(const json& v) {
  constexpr int64_t lo = std::numeric_limits<int64_t>::min();
  constexpr uint64_t hi = std::numeric_limits<uint64_t>::max();
  if (!v.is_number_integer()) not_integer("seed", v, static_cast<double>(lo), static_cast<double>(hi), range_text(lo, hi));
  return v.is_number_unsigned() ? v.get<uint64_t>() : static_cast<uint64_t>(v.get<int64_t>());
}

// More entries in `name` than the server allows are refused before any of them is looked at.
void check_count(const json& body, const char* name, size_t limit, const char* code) {
  const json* list = field(body, name);
  if (!list || !list->is_array() || limit == 0 || list->size() <= limit) return;
  throw ApiError(400, std::string("'") + name + "' has " + std::to_string(list->size()) +
                          " entries, above this server's limit of " + std::to_string(limit),
                 name, code);
}

bool boolean(const json& body, const char* name, bool fallback) {
  const json* v = field(body, name);
  if (!v) return fallback;
  if (!v->is_boolean()) bad(name, std::string("'") + name + "' must be a boolean");
  return v->get<bool>();
}

// Message content: a string, or an array of parts of which the text parts are joined.
std::string content_text(const json& c, const std::string& param) {
  if (c.is_null()) return {};
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) bad(param, "'" + param + "' must be a string or an array of content parts");
  std::string out;
  for (const json& part : c) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string()) {
      bad(param, "'" + param + "' may only hold parts of type \"text\" with a string \"text\"");
    }
    out += part["text"].get<std::string>();
  }
  return out;
}

// JSON text sent in a string field: held to the body's limit, as the chat template that parses
// it is. Text that is not JSON is fine, however deep: the template shows it as a string.
void check_json_text(std::string_view text, const std::string& param) {
  if (json::accept(text)) (void)parse_bounded(text, param);  // accept() builds nothing
}

// The fields both endpoints share.
void parse_common(const json& body, const Limits& limits, ParsedRequest& r) {
  if (const json* m = field(body, "model")) {
    if (!m->is_string()) bad("model", "'model' must be a string");
    r.model = m->get<std::string>();
  }
  GenerateOptions& o = r.options;
  o.max_tokens = limits.max_tokens_limit;
  for (const char* name : {"max_tokens", "max_completion_tokens"}) {
    if (const auto n = integer_in(body, name, 1, std::numeric_limits<int32_t>::max())) {
      if (*n > limits.max_tokens_limit) {
        bad(name, std::string("'") + name + "' = " + std::to_string(*n) + " is above this server's limit of " +
                      std::to_string(limits.max_tokens_limit));
      }
      o.max_tokens = static_cast<int>(*n);
    }
  }
  if (auto v = number_in(body, "temperature", 0, 2)) o.temperature = static_cast<float>(*v);
  if (auto v = number_in(body, "top_p", 0, 1, /*lo_open=*/true)) o.top_p = static_cast<float>(*v);
  if (auto v = integer_in(body, "top_k", 0, 1 << 20)) o.top_k = static_cast<int>(*v);
  if (auto v = number_in(body, "min_p", 0, 0.999)) o.min_p = static_cast<float>(*v);
  if (auto v = number_in(body, "repetition_penalty", 0, 10, /*lo_open=*/true)) o.repetition_penalty = static_cast<float>(*v);
  if (auto v = number_in(body, "presence_penalty", -2, 2)) o.presence_penalty = static_cast<float>(*v);
  if (auto v = number_in(body, "frequency_penalty", -2, 2)) o.frequency_penalty = static_cast<float>(*v);
  if (const json* s = field(body, "seed")) o.seed = seed_of(*s);
  if (const json* s = field(body, "stop")) {
    if (s->is_string()) {
      o.stop.push_back(s->get<std::string>());
    } else if (s->is_array() && s->size() <= 16) {
      for (const json& x : *s) {
        if (!x.is_string()) bad("stop", "'stop' must be a string or an array of strings");
        o.stop.push_back(x.get<std::string>());
      }
    } else {
      bad("stop", "'stop' must be a string or an array of at most 16 strings");
    }
    for (const std::string& x : o.stop) {
      if (x.empty()) bad("stop", "'stop' strings must not be empty");
    }
  }
  if (auto n = integer_in(body, "n", 1, std::numeric_limits<int32_t>::max()); n && *n != 1) {
    bad("n", "only n = 1 is supported");
  }
  o.ignore_eos = boolean(body, "ignore_eos", false);
  r.stream = boolean(body, "stream", false);
  if (const json* so = field(body, "stream_options")) {
    if (!so->is_object()) bad("stream_options", "'stream_options' must be an object");
    r.include_usage = boolean(*so, "include_usage", false);
  }
}

// `tools` (each one function, as OpenAI defines them) and `tool_choice`. The model cannot be
// forced to call a tool: "required" and a named function are accepted and act like "auto".
void parse_tools(const json& body, ParsedRequest& r) {
  std::vector<std::string> names;
  if (const json* tools = field(body, "tools")) {
    if (!tools->is_array()) bad("tools", "'tools' must be an array");
    for (size_t i = 0; i < tools->size(); ++i) {
      const json& t = (*tools)[i];
      const std::string at = "tools[" + std::to_string(i) + "]";
      if (!t.is_object()) bad(at, "'" + at + "' must be an object");
      const json* type = field(t, "type");
      if (!type || *type != "function") bad(at + ".type", "'" + at + ".type' must be \"function\"");
      const json* fn = field(t, "function");
      if (!fn || !fn->is_object()) bad(at + ".function", "'" + at + ".function' must be an object");
      const json* name = field(*fn, "name");
      if (!name || !name->is_string() || name->get_ref<const std::string&>().empty()) {
        bad(at + ".function.name", "'" + at + ".function.name' must be a non-empty string");
      }
      if (const json* d = field(*fn, "description"); d && !d->is_string()) {
        bad(at + ".function.description", "'" + at + ".function.description' must be a string");
      }
      if (const json* p = field(*fn, "parameters"); p && !p->is_object()) {
        bad(at + ".function.parameters", "'" + at + ".function.parameters' must be an object (a JSON Schema)");
      }
      names.push_back(name->get<std::string>());
      r.options.tools.push_back(t.dump());
    }
  }
  (void)boolean(body, "parallel_tool_calls", true);  // only checked: the model decides how many calls it makes
  bool none = false;
  if (const json* choice = field(body, "tool_choice")) {
    if (choice->is_string()) {
      const std::string& c = choice->get_ref<const std::string&>();
      if (c != "none" && c != "auto" && c != "required") {
        bad("tool_choice", "'tool_choice' = \"" + quote_text(c) + "\" (expected none, auto, required or a function)");
      }
      none = c == "none";
      if (c == "required" && names.empty()) bad("tool_choice", "'tool_choice' = \"required\" needs 'tools'");
    } else {
      const json* type = choice->is_object() ? field(*choice, "type") : nullptr;
      const json* fn = choice->is_object() ? field(*choice, "function") : nullptr;
      const json* name = fn && fn->is_object() ? field(*fn, "name") : nullptr;
      if (!type || *type != "function" || !name || !name->is_string()) {
        bad("tool_choice",
            "'tool_choice' must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": …}}");
      }
      const std::string& wanted = name->get_ref<const std::string&>();
      if (std::find(names.begin(), names.end(), wanted) == names.end()) {
        bad("tool_choice", "'tool_choice' names the function '" + quote_text(wanted) + "', which is not in 'tools'");
      }
    }
  }
  if (none) r.options.tools.clear();  // the model is not told of tools it may not call
  r.tool_calls = !r.options.tools.empty();
}

}  // namespace

json error_body(const std::string& message, const std::string& type, const std::string& param, const std::string& code) {
  return {{"error",
           {{"message", valid_utf8(message)},
            {"type", type},
            {"param", param.empty() ? json(nullptr) : json(valid_utf8(param))},
            {"code", code.empty() ? json(nullptr) : json(code)}}}};
}

json error_body(const ApiError& e) { return error_body(e.message, e.type, e.param, e.code); }

std::string quote_text(std::string_view text) {
  if (text.size() <= kQuoteBytes) return std::string(text);
  size_t n = kQuoteBytes;
  while (n > 0 && utf8_continuation(text[n])) --n;
  return std::string(text.substr(0, n)) + "…";
}

json parse_request_body(std::string_view text) { return parse_bounded(text, ""); }

ParsedRequest parse_chat_request(const json& body, const Limits& limits) {
  check_depth(body);
  if (!body.is_object()) bad("", "the request body must be a JSON object");
  check_count(body, "messages", limits.max_messages, "too_many_messages");
  check_count(body, "tools", limits.max_tools, "too_many_tools");
  ParsedRequest r;
  r.chat = true;
  parse_common(body, limits, r);
  const json* msgs = field(body, "messages");
  if (!msgs) bad("messages", "'messages' is required");
  if (!msgs->is_array() || msgs->empty()) bad("messages", "'messages' must be a non-empty array");
  for (size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) bad(at, "'" + at + "' must be an object");
    const json* role = field(m, "role");
    if (!role || !role->is_string()) bad(at + ".role", "'" + at + ".role' must be a string");
    Message msg;
    msg.role = role->get<std::string>();
    if (msg.role == "developer") msg.role = "system";  // the newer OpenAI name of the system role
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant" && msg.role != "tool") {
      bad(at + ".role", "'" + at + ".role' = \"" + quote_text(msg.role) + "\" (expected system, user, assistant or tool)");
    }
    if (m.contains("content")) msg.content = content_text(m["content"], at + ".content");
    else if (msg.role != "assistant") bad(at + ".content", "'" + at + ".content' is required");
    if (const json* calls = field(m, "tool_calls")) {
      if (!calls->is_array()) bad(at + ".tool_calls", "'" + at + ".tool_calls' must be an array");
      for (size_t k = 0; k < calls->size(); ++k) {
        const json& c = (*calls)[k];
        const json* fn = c.is_object() ? field(c, "function") : nullptr;
        if (!fn || !fn->is_object() || !fn->contains("name") || !(*fn)["name"].is_string()) {
          bad(at + ".tool_calls", "each tool call needs a function with a string name");
        }
        ToolCall tc;
        tc.name = (*fn)["name"].get<std::string>();
        const json* args = field(*fn, "arguments");
        // OpenAI sends the arguments as a string holding JSON; accept an object too.
        tc.arguments = !args ? "{}" : args->is_string() ? args->get<std::string>() : args->dump();
        if (args && args->is_string()) {
          check_json_text(tc.arguments, at + ".tool_calls[" + std::to_string(k) + "].function.arguments");
        }
        msg.tool_calls.push_back(std::move(tc));
      }
    }
    r.messages.push_back(std::move(msg));
  }
  parse_tools(body, r);
  return r;
}

ParsedRequest parse_completion_request(const json& body, const Limits& limits) {
  check_depth(body);
  if (!body.is_object()) bad("", "the request body must be a JSON object");
  ParsedRequest r;
  r.chat = false;
  parse_common(body, limits, r);
  const json* p = field(body, "prompt");
  if (!p) bad("prompt", "'prompt' is required");
  if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) p = &(*p)[0];
  if (!p->is_string()) bad("prompt", "'prompt' must be a string (or an array of one string)");
  r.prompt = p->get<std::string>();
  if (r.prompt.empty()) bad("prompt", "'prompt' must not be empty");
  return r;
}

const char* finish_reason(FinishReason r) { return r == FinishReason::kLength ? "length" : "stop"; }

json usage(const Result& r) {
  const int64_t completion = r.timings.generated_tokens;
  return {{"prompt_tokens", r.timings.prompt_tokens},
          {"completion_tokens", completion},
          {"total_tokens", r.timings.prompt_tokens + completion},
          {"prompt_tokens_details", {{"cached_tokens", r.timings.cached_tokens}}}};
}

json chat_completion(const ResponseIds& ids, const Result& r, bool tool_calls) {
  json message = {{"role", "assistant"}, {"content", r.text}};
  const char* finish = finish_reason(r.finish);
  if (tool_calls) {
    ToolCallAnswer answer = split_tool_calls(r.text);
    if (!answer.calls.empty()) {
      message["content"] = answer.content.empty() ? json(nullptr) : json(answer.content);
      json calls = json::array();
      for (const ParsedToolCall& c : answer.calls) calls.push_back(tool_call_json(c, new_tool_call_id()));
      message["tool_calls"] = std::move(calls);
      finish = kToolCallsFinish;
    }
  }
  return {{"id", ids.id},
          {"object", "chat.completion"},
          {"created", ids.created},
          {"model", ids.model},
          {"choices",
           json::array({{{"index", 0}, {"message", std::move(message)}, {"logprobs", nullptr}, {"finish_reason", finish}}})},
          {"usage", usage(r)}};
}

json tool_call_json(const ParsedToolCall& call, const std::string& id, std::optional<int> index) {
  json j = {{"id", id}, {"type", "function"}, {"function", {{"name", call.name}, {"arguments", call.arguments}}}};
  if (index) j["index"] = *index;
  return j;
}

json piece_delta(const AnswerPiece& piece, int index) {
  if (!piece.call) return {{"content", piece.text}};
  return {{"tool_calls", json::array({tool_call_json(*piece.call, new_tool_call_id(), index)})}};
}

json text_completion(const ResponseIds& ids, const Result& r) {
  return {{"id", ids.id},
          {"object", "text_completion"},
          {"created", ids.created},
          {"model", ids.model},
          {"choices", json::array({{{"index", 0}, {"text", r.text}, {"logprobs", nullptr}, {"finish_reason", finish_reason(r.finish)}}})},
          {"usage", usage(r)}};
}

json chat_chunk(const ResponseIds& ids, const json& delta, const char* finish) {
  return {{"id", ids.id},
          {"object", "chat.completion.chunk"},
          {"created", ids.created},
          {"model", ids.model},
          {"choices", json::array({{{"index", 0}, {"delta", delta}, {"logprobs", nullptr},
                                    {"finish_reason", finish ? json(finish) : json(nullptr)}}})}};
}

json completion_chunk(const ResponseIds& ids, const std::string& text, const char* finish) {
  return {{"id", ids.id},
          {"object", "text_completion"},
          {"created", ids.created},
          {"model", ids.model},
          {"choices", json::array({{{"index", 0}, {"text", text}, {"logprobs", nullptr},
                                    {"finish_reason", finish ? json(finish) : json(nullptr)}}})}};
}

json usage_chunk(const ResponseIds& ids, bool chat, const Result& r) {
  json j = {{"id", ids.id},
            {"object", chat ? "chat.completion.chunk" : "text_completion"},
            {"created", ids.created},
            {"model", ids.model},
            {"choices", json::array()},
            {"usage", usage(r)}};
  // Server-side timings (not in OpenAI's format; clients ignore unknown fields).
  j["timings"] = {{"prompt_ms", r.timings.prefill_ms},
                  {"cached_tokens", r.timings.cached_tokens},
                  {"decode_tokens_per_s", r.timings.decode_tokens_per_s()}};
  return j;
}

}  // namespace qwenedge::server
