// Tool calls in answers: the <tool_call> block parser, whole and streamed, and the OpenAI JSON
// built from it. Random-weight models never write tool calls, so this is where they are tested.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "qwen-server/openai_api.hpp"
#include "qwen-server/tool_calls.hpp"

// The library's own nesting limit; its header is internal, so it is reached by its path.
#include "qwenedge/limits.hpp"

using namespace qwenedge;
using namespace qwenedge::server;

namespace {

const std::string kWeather =
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";

// Adjacent text pieces joined: the pieces' meaning, whatever the cuts between texts.
std::vector<AnswerPiece> joined(const std::vector<AnswerPiece>& in) {
  std::vector<AnswerPiece> out;
  for (const AnswerPiece& p : in) {
    if (!p.call && p.text.empty()) continue;
    if (!p.call && !out.empty() && !out.back().call) out.back().text += p.text;
    else out.push_back(p);
  }
  return out;
}

std::vector<AnswerPiece> feed(const std::vector<std::string>& parts) {
  ToolCallSplitter s;
  std::vector<AnswerPiece> all;
  for (const std::string& part : parts) {
    for (AnswerPiece& p : s.push(part)) all.push_back(std::move(p));
  }
  for (AnswerPiece& p : s.finish()) all.push_back(std::move(p));
  return all;
}

std::vector<AnswerPiece> whole(const std::string& text) { return joined(feed({text})); }

AnswerPiece text(std::string t) { return {std::move(t), std::nullopt}; }
AnswerPiece call(std::string name, std::string args) { return {{}, ParsedToolCall{std::move(name), std::move(args)}}; }

Result result_of(std::string text) {
  Result r;
  r.text = std::move(text);
  r.finish = FinishReason::kStop;
  return r;
}

const ResponseIds kIds{"chatcmpl-1", 0, "m"};

// Answers covering every case, for the split tests.
const std::vector<std::string> kAnswers = {
    kWeather,
    "Let me check.\n" + kWeather,
    kWeather + "\n" + kWeather,
    "A " + kWeather + " B " + kWeather + "\n",
    "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": {\"b\": [1, {\"c\": null}]}, \"q\": \"say \\\"hi\\\"\", "
    "\"u\": \"日本語 ✓ \\u00e9\"}}\n</tool_call>",
    "text <tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}",        // never closed
    "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}\n</tool_call>",  // invalid JSON
    "<tool_call>\n{not json}\n</tool_call>\n" + kWeather,
    kWeather + "\n<tool_call>\n[1, 2]\n</tool_call> after",
    "a < b and <tool_ca and <tool_call",
    "plain text \n with <b>tags</b> and trailing space  \n",
    "",
    "  \n",
};

}  // namespace

TEST_CASE("tool calls: one block becomes one call", "[server][tools]") {
  CHECK(whole(kWeather) == std::vector<AnswerPiece>{call("get_weather", R"({"city":"Paris"})")});
  const ToolCallAnswer a = split_tool_calls(kWeather);
  CHECK(a.content.empty());
  REQUIRE(a.calls.size() == 1);
  CHECK(a.calls[0].name == "get_weather");
  CHECK(nlohmann::json::parse(a.calls[0].arguments) == nlohmann::json{{"city", "Paris"}});
}

TEST_CASE("tool calls: two blocks, the whitespace between them dropped", "[server][tools]") {
  const std::string two = kWeather + "\n" +
                          "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": \"CET\"}}\n</tool_call>";
  CHECK(whole(two) == std::vector<AnswerPiece>{call("get_weather", R"({"city":"Paris"})"),
                                               call("get_time", R"({"zone":"CET"})")});
  CHECK(split_tool_calls(two).content.empty());
}

TEST_CASE("tool calls: text before (and after) a call stays content", "[server][tools]") {
  CHECK(whole("Let me check the weather.\n\n" + kWeather) ==
        std::vector<AnswerPiece>{text("Let me check the weather."), call("get_weather", R"({"city":"Paris"})")});
  const ToolCallAnswer a = split_tool_calls("Before " + kWeather + "\n after.");
  CHECK(a.content == "Before\n after.");  // the space before the call was only its separator
  CHECK(a.calls.size() == 1);
}

TEST_CASE("tool calls: arguments with nested objects, unicode and escaped quotes", "[server][tools]") {
  const std::string args = R"({"a": {"b": [1, {"c": null}], "d": true}, "q": "say \"hi\" \\ \/", "u": "日本語 ✓ \u00e9"})";
  const ToolCallAnswer a = split_tool_calls("<tool_call>\n{\"name\": \"f\", \"arguments\": " + args + "}\n</tool_call>");
  REQUIRE(a.calls.size() == 1);
  const nlohmann::json got = nlohmann::json::parse(a.calls[0].arguments);
  CHECK(got == nlohmann::json::parse(args));
  CHECK(got["q"] == "say \"hi\" \\ /");
  CHECK(got["u"] == "日本語 ✓ é");
  CHECK(a.calls[0].arguments.find("日本語") != std::string::npos);  // UTF-8 as is, not \u escapes

  // OpenAI's own form, a string holding the JSON object, is taken as it is.
  const ToolCallAnswer s = split_tool_calls(R"(<tool_call>{"name": "f", "arguments": "{\"x\": 1}"}</tool_call>)");
  REQUIRE(s.calls.size() == 1);
  CHECK(s.calls[0].arguments == R"({"x": 1})");
  // No arguments: an empty object.
  CHECK(split_tool_calls(R"(<tool_call>{"name": "now"}</tool_call>)").calls.at(0).arguments == "{}");
}

TEST_CASE("tool calls: a block that never closes is content", "[server][tools]") {
  const std::string open = "I will call it.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Pa";
  const ToolCallAnswer a = split_tool_calls(open);
  CHECK(a.calls.empty());
  CHECK(a.content == open);
  CHECK(split_tool_calls("x <tool_call").content == "x <tool_call");
}

TEST_CASE("tool calls: a block that is not a call is content, the others still parse", "[server][tools]") {
  for (const std::string body : {"{not json}", "{\"name\": \"f\", \"arguments\": {\"a\": 1}",  // cut short
                                 "[1, 2]", "{\"arguments\": {}}", "{\"name\": \"\"}", "{\"name\": 5}",
                                 "{\"name\": \"f\", \"arguments\": [1]}", "{\"name\": \"f\", \"arguments\": \"Paris\"}"}) {
    INFO(body);
    const std::string block = "<tool_call>\n" + body + "\n</tool_call>";
    CHECK(!parse_tool_call(body));
    const ToolCallAnswer a = split_tool_calls("Hi\n" + block + "\n" + kWeather);
    CHECK(a.content == "Hi\n" + block);  // exactly as written, its leading newline included
    CHECK(a.calls.size() == 1);
  }
}

TEST_CASE("tool calls: text without a call comes back unchanged", "[server][tools]") {
  for (const char* t : {"plain", "  spaced  \n", "a < b", "ends with <tool_", "ends with <tool_call", "</tool_call> alone",
                        "<tool_call>\nnope\n</tool_call>\n", ""}) {
    INFO(t);
    const ToolCallAnswer a = split_tool_calls(t);
    CHECK(a.content == t);
    CHECK(a.calls.empty());
  }
}

TEST_CASE("tool calls: streamed in any split, the same pieces as at once", "[server][tools]") {
  for (const std::string& answer : kAnswers) {
    INFO(answer);
    const std::vector<AnswerPiece> expect = whole(answer);
    for (size_t i = 0; i <= answer.size(); ++i) {
      INFO("split at " << i);
      REQUIRE(joined(feed({answer.substr(0, i), answer.substr(i)})) == expect);
      for (size_t j = i; j <= answer.size(); j += 7) {  // and three parts
        REQUIRE(joined(feed({answer.substr(0, i), answer.substr(i, j - i), answer.substr(j)})) == expect);
      }
    }
    std::vector<std::string> bytes;
    for (char c : answer) bytes.emplace_back(1, c);
    REQUIRE(joined(feed(bytes)) == expect);
  }
}

TEST_CASE("tool calls: a stream passes text on as soon as it cannot start a block", "[server][tools]") {
  ToolCallSplitter s;
  CHECK(joined(s.push("Hello wor")) == std::vector<AnswerPiece>{text("Hello wor")});
  CHECK(joined(s.push("ld. ")) == std::vector<AnswerPiece>{text("ld.")});  // the space may separate a call
  CHECK(joined(s.push("<tool")).empty());
  CHECK(joined(s.push("box>")) == std::vector<AnswerPiece>{text(" <toolbox>")});
  CHECK(joined(s.push("\n<tool_call>\n{\"name\": \"f\"}")).empty());  // held until it closes
  CHECK(joined(s.push("\n</tool_call>\n")) == std::vector<AnswerPiece>{call("f", "{}")});
  CHECK(joined(s.finish()).empty());  // the newline after the call was its separator
}

TEST_CASE("tool calls: the chat completion carries them in OpenAI's shape", "[server][tools]") {
  const nlohmann::json j = chat_completion(kIds, result_of("Checking.\n" + kWeather + "\n" + kWeather), true);
  const nlohmann::json& choice = j["choices"][0];
  CHECK(choice["finish_reason"] == "tool_calls");
  CHECK(choice["message"]["role"] == "assistant");
  CHECK(choice["message"]["content"] == "Checking.");
  const nlohmann::json& calls = choice["message"]["tool_calls"];
  REQUIRE(calls.size() == 2);
  for (const nlohmann::json& c : calls) {
    CHECK(c["id"].get<std::string>().rfind("call_", 0) == 0);
    CHECK(c["id"].get<std::string>().size() == 5 + 24);
    CHECK(c["type"] == "function");
    CHECK(c["function"]["name"] == "get_weather");
    CHECK(c["function"]["arguments"].is_string());
    CHECK(nlohmann::json::parse(c["function"]["arguments"].get<std::string>())["city"] == "Paris");
    CHECK(!c.contains("index"));
  }
  CHECK(calls[0]["id"] != calls[1]["id"]);

  // Only calls: content is null.
  CHECK(chat_completion(kIds, result_of(kWeather), true)["choices"][0]["message"]["content"].is_null());
  // Tools offered, no call made: the text as it is, the model's own finish reason.
  const nlohmann::json plain = chat_completion(kIds, result_of("It is sunny. "), true);
  CHECK(plain["choices"][0]["message"]["content"] == "It is sunny. ");
  CHECK(!plain["choices"][0]["message"].contains("tool_calls"));
  CHECK(plain["choices"][0]["finish_reason"] == "stop");
}

TEST_CASE("tool calls: without tools in the request the text is returned as it is", "[server][tools]") {
  const nlohmann::json j = chat_completion(kIds, result_of("Checking.\n" + kWeather), false);
  CHECK(j["choices"][0]["message"]["content"] == "Checking.\n" + kWeather);
  CHECK(!j["choices"][0]["message"].contains("tool_calls"));
  CHECK(j["choices"][0]["finish_reason"] == "stop");

  const Limits limits;
  const nlohmann::json msgs = nlohmann::json::array({{{"role", "user"}, {"content", "hi"}}});
  CHECK(!parse_chat_request({{"messages", msgs}}, limits).tool_calls);
  CHECK(!parse_chat_request({{"messages", msgs}, {"tools", nlohmann::json::array()}}, limits).tool_calls);
}

TEST_CASE("tool calls: stream deltas", "[server][tools]") {
  const nlohmann::json d = piece_delta(call("get_weather", R"({"city":"Paris"})"), 2);
  REQUIRE(d["tool_calls"].size() == 1);
  const nlohmann::json& c = d["tool_calls"][0];
  CHECK(c["index"] == 2);
  CHECK(c["id"].get<std::string>().rfind("call_", 0) == 0);
  CHECK(c["type"] == "function");
  CHECK(c["function"] == nlohmann::json{{"name", "get_weather"}, {"arguments", R"({"city":"Paris"})"}});
  CHECK(piece_delta(text("hi"), 0) == nlohmann::json{{"content", "hi"}});
}

TEST_CASE("tool calls: tools and tool_choice in the request", "[server][tools]") {
  const Limits limits;
  const nlohmann::json msgs = nlohmann::json::array({{{"role", "user"}, {"content", "hi"}}});
  const nlohmann::json tool = {{"type", "function"},
                               {"function", {{"name", "get_weather"}, {"parameters", {{"type", "object"}}}}}};
  const nlohmann::json ok = {{"messages", msgs}, {"tools", {tool}}};

  ParsedRequest r = parse_chat_request(ok, limits);
  CHECK(r.tool_calls);
  CHECK(r.options.tools.size() == 1);
  for (const char* choice : {"auto", "required"}) {
    nlohmann::json b = ok;
    b["tool_choice"] = choice;
    CHECK(parse_chat_request(b, limits).tool_calls);
  }
  nlohmann::json named = ok;
  named["tool_choice"] = {{"type", "function"}, {"function", {{"name", "get_weather"}}}};
  CHECK(parse_chat_request(named, limits).tool_calls);
  // "none": the model is not shown the tools and nothing is parsed.
  nlohmann::json none = ok;
  none["tool_choice"] = "none";
  r = parse_chat_request(none, limits);
  CHECK(!r.tool_calls);
  CHECK(r.options.tools.empty());

  auto param_of = [&](const nlohmann::json& body) {
    try {
      parse_chat_request(body, limits);
    } catch (const ApiError& e) {
      CHECK(e.status == 400);
      return e.param;
    }
    return std::string("(accepted)");
  };
  auto with = [&](const char* key, nlohmann::json value) {
    nlohmann::json b = ok;
    b[key] = std::move(value);
    return b;
  };
  CHECK(param_of(with("tools", nlohmann::json::object())) == "tools");
  CHECK(param_of(with("tools", {tool, "get_time"})) == "tools[1]");
  CHECK(param_of(with("tools", {{{"type", "retrieval"}, {"function", tool["function"]}}})) == "tools[0].type");
  CHECK(param_of(with("tools", {{{"type", "function"}}})) == "tools[0].function");
  CHECK(param_of(with("tools", {{{"type", "function"}, {"function", {{"parameters", {}}}}}})) == "tools[0].function.name");
  CHECK(param_of(with("tools", {{{"type", "function"}, {"function", {{"name", ""}}}}})) == "tools[0].function.name");
  CHECK(param_of(with("tools", {{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", "x"}}}}})) ==
        "tools[0].function.parameters");
  CHECK(param_of(with("tools", {{{"type", "function"}, {"function", {{"name", "f"}, {"description", 3}}}}})) ==
        "tools[0].function.description");
  CHECK(param_of(with("tool_choice", "always")) == "tool_choice");
  CHECK(param_of(with("tool_choice", 1)) == "tool_choice");
  CHECK(param_of(with("tool_choice", {{"type", "function"}, {"function", {{"name", "other"}}}})) == "tool_choice");
  CHECK(param_of(with("tool_choice", {{"type", "function"}})) == "tool_choice");
  CHECK(param_of(with("parallel_tool_calls", "yes")) == "parallel_tool_calls");
  CHECK(param_of({{"messages", msgs}, {"tool_choice", "required"}}) == "tool_choice");
  CHECK(param_of(ok) == "(accepted)");
}

namespace {

// `depth` arrays nested in each other around `inner`.
std::string nested(int depth, const std::string& inner = "1") {
  const auto n = static_cast<size_t>(depth);
  return std::string(n, '[') + inner + std::string(n, ']');
}

// A chat body's text with `args` (JSON text) as its one tool call's arguments and `params` as
// its one tool's parameters.
std::string chat_body(const std::string& args, const std::string& params = "{}") {
  return R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [)"
         R"({"type": "function", "function": {"name": "f", "arguments": )" + args + R"(}}]}],)"
         R"( "tools": [{"type": "function", "function": {"name": "f", "parameters": )" + params + "}}]}";
}

// The 400 a body's text gets (from the parser or from parse_chat_request): "param: message", or
// "(accepted)".
std::string rejection(const std::string& text) {
  try {
    (void)parse_chat_request(parse_request_body(text), Limits{});
  } catch (const ApiError& e) {
    CHECK(e.status == 400);
    return e.param + ": " + e.what();
  }
  return "(accepted)";
}

// The same for a body parsed without the limit (parse_chat_request checks on its own).
std::string rejection_unbounded(const std::string& text) {
  try {
    (void)parse_chat_request(nlohmann::json::parse(text), Limits{});
  } catch (const ApiError& e) {
    CHECK(e.status == 400);
    return e.param + ": " + e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST_CASE("request bodies nested deeper than the limit get a 400 naming the field", "[server][json]") {
  const std::string limit = "more than " + std::to_string(kMaxJsonDepth) + " levels deep";
  const std::string args = "messages[1].tool_calls[0].function.arguments: ";
  const std::string params = "tools[0].function.parameters: ";
  for (const int depth : {10'000, 40'000, 100'000}) {
    INFO("depth " << depth);
    const std::string deep = nested(depth);
    for (auto* reject : {&rejection, &rejection_unbounded}) {
      CHECK_THAT(reject(chat_body(deep)), Catch::StartsWith(args) && Catch::Contains(limit));
      CHECK_THAT(reject(chat_body("{}", R"({"type": "object", "properties": )" + deep + "}")),
                 Catch::StartsWith(params) && Catch::Contains(limit));
      // Arguments sent as a string holding JSON: that JSON is held to the same limit.
      CHECK_THAT(reject(chat_body(nlohmann::json(deep).dump())), Catch::StartsWith(args) && Catch::Contains(limit));
      // Elsewhere: the top-level field, or the body itself.
      CHECK_THAT(reject(R"({"messages": [{"role": "user", "content": )" + deep + "}]}"),
                 Catch::StartsWith("messages: ") && Catch::Contains(limit));
      CHECK_THAT(reject(R"({"extra": )" + deep + "}"), Catch::StartsWith("extra: ") && Catch::Contains(limit));
      CHECK_THAT(reject(deep), Catch::StartsWith(": the request body") && Catch::Contains(limit));
    }
    // Unclosed: not JSON at all, and refused as soon as it is too deep.
    CHECK_THAT(rejection(std::string(static_cast<size_t>(depth), '[')), Catch::Contains(limit));
    // A string of text that is not JSON is not held to anything: the template shows it as a string.
    CHECK(rejection(chat_body(nlohmann::json(std::string(static_cast<size_t>(depth), '[')).dump())) == "(accepted)");
    CHECK_THROWS_WITH(parse_completion_request(nlohmann::json::parse(R"({"prompt": "x", "extra": )" + deep + "}"), {}),
                      Catch::Contains(limit));
  }
  // 100 levels in each field are fine; the body may nest exactly kMaxJsonDepth levels in all (the
  // arguments are 6 levels down, the parameters 4).
  const ParsedRequest r = parse_chat_request(parse_request_body(chat_body(nested(100), R"({"a": )" + nested(100) + "}")), {});
  CHECK(r.messages[1].tool_calls[0].arguments == nlohmann::json::parse(nested(100)).dump());
  CHECK(nlohmann::json::parse(r.options.tools[0])["function"]["parameters"] == nlohmann::json::parse(R"({"a": )" + nested(100) + "}"));
  const int room = kMaxJsonDepth - 6;
  CHECK(rejection(chat_body(nested(room))) == "(accepted)");
  CHECK_THAT(rejection(chat_body(nested(room + 1))), Catch::StartsWith(args));
  CHECK(rejection(chat_body(nlohmann::json(nested(kMaxJsonDepth)).dump())) == "(accepted)");
  CHECK_THAT(rejection(chat_body(nlohmann::json(nested(kMaxJsonDepth + 1)).dump())), Catch::StartsWith(args));
  // Text that is not JSON keeps its own error.
  try {
    (void)parse_request_body("{not json");
    FAIL("accepted");
  } catch (const ApiError& e) {
    CHECK(e.code == "invalid_json");
  }
}

TEST_CASE("tool calls nested deeper than the limit stay text", "[server][tools][json]") {
  for (const int depth : {10'000, 40'000, 100'000}) {
    INFO("depth " << depth);
    const std::string deep = nested(depth);
    const std::string body = "{\"name\": \"f\", \"arguments\": {\"a\": " + deep + "}}";
    const std::string block = "<tool_call>\n" + body + "\n</tool_call>";
    CHECK(!parse_tool_call(body));
    const ToolCallAnswer a = split_tool_calls(block);
    CHECK(a.calls.empty());
    CHECK(a.content == block);
    const std::string as_string = "{\"name\": \"f\", \"arguments\": " + nlohmann::json("{\"a\": " + deep + "}").dump() + "}";
    CHECK(!parse_tool_call(as_string));
  }
  const std::string args = "{\"a\": " + nested(100) + "}";
  const auto call = parse_tool_call("{\"name\": \"f\", \"arguments\": " + args + "}");
  REQUIRE(call);
  CHECK(nlohmann::json::parse(call->arguments) == nlohmann::json::parse(args));
}
