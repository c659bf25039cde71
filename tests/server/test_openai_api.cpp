// Request validation of the OpenAI wire format: bodies that are not JSON (numbers past a double's
// range among them), integers too large for their fields, messages that quote request text
// (NUL bytes, huge fields), and the limits on how many messages and tools a request may have.
#include <catch2/catch.hpp>

#include <string>

#include "qwen-server/openai_api.hpp"

using namespace qwenedge::server;

namespace {

using nlohmann::json;

// The ApiError a chat body's text gets (from the parser or from parse_chat_request); one with
// status 0 when it is accepted.
ApiError rejected(const std::string& text, const Limits& limits = {}) {
  try {
    (void)parse_chat_request(parse_request_body(text), limits);
  } catch (const ApiError& e) {
    return e;
  }
  return ApiError(0, "(accepted)");
}

ApiError rejected_completion(const std::string& text) {
  try {
    (void)parse_completion_request(parse_request_body(text), Limits{});
  } catch (const ApiError& e) {
    return e;
  }
  return ApiError(0, "(accepted)");
}

const std::string kHi = R"([{"role": "user", "content": "hi"}])";

// A chat body with `extra` (members' text) after its messages.
std::string chat_with(const std::string& extra) { return R"({"messages": )" + kHi + ", " + extra + "}"; }

// The error body as the server sends it: strictly dumped (it must be valid UTF-8) and parsed back.
json sent(const ApiError& e) { return json::parse(error_body(e).dump()); }

json messages(size_t n, const json& each) { return json(std::vector<json>(n, each)); }

const json kTool = {{"type", "function"}, {"function", {{"name", "f"}, {"parameters", {{"type", "object"}}}}}};

}  // namespace

TEST_CASE("openai api: numbers too large for a double are invalid_json 400s naming the field", "[server][json]") {
  const std::string digits(400, '9');
  const struct {
    std::string body, param, number;
  } cases[] = {
      {chat_with(R"("max_tokens": 1e309)"), "max_tokens", "1e309"},
      {chat_with(R"("temperature": -1e400)"), "temperature", "-1e400"},
      {chat_with(R"("seed": )" + digits), "seed", digits},
      {chat_with(R"("seed": -)" + digits), "seed", "-" + digits},
      {R"({"messages": [{"role": "user", "content": [{"type": "text", "text": 1e309}]}]})",
       "messages[0].content[0].text", "1e309"},
      {R"({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": {"x": [1, 1e999]}}}]}]})",
       "messages[0].tool_calls[0].function.arguments.x[1]", "1e999"},
      {chat_with(R"("tools": [{"type": "function", "function": {"name": "f", "parameters": {"maximum": 1e309}}}])"),
       "tools[0].function.parameters.maximum", "1e309"},
      {"1e309", "", "1e309"},
  };
  for (const auto& c : cases) {
    INFO(c.body.substr(0, 200));
    const ApiError e = rejected(c.body);
    CHECK(e.status == 400);
    CHECK(e.code == "invalid_json");
    CHECK(e.param == c.param);
    CHECK_THAT(e.message, Catch::StartsWith("the request body is not valid JSON: number overflow parsing '"));
    if (!c.param.empty()) CHECK_THAT(e.message, Catch::EndsWith("(in '" + c.param + "')"));
    // A long number is shortened, its start and end kept.
    if (c.number.size() < 100) CHECK_THAT(e.message, Catch::Contains("'" + c.number + "'"));
    else CHECK(e.message.size() < 300);
    CHECK(sent(e)["error"]["code"] == "invalid_json");
  }
  CHECK(rejected_completion(R"({"prompt": "x", "max_tokens": 1e309})").param == "max_tokens");
  // Small ones are fine: an underflow is 0, and the largest double and 64-bit integers parse.
  CHECK(rejected(chat_with(R"("temperature": 1e-400, "seed": 18446744073709551615)")).status == 0);
  CHECK(rejected(chat_with(R"("extra": [1.7976931348623157e308, -9223372036854775808])")).status == 0);
}

TEST_CASE("openai api: text that is not JSON gets a message naming the problem", "[server][json]") {
  const struct {
    std::string body, says;
  } cases[] = {
      {"{not json", "parse error at line 1, column 3: syntax error while parsing object key"},
      {"[1, 2", "unexpected end of input; expected ']'"},
      {"{\"a\": 1}x", "expected end of input"},
      {"\"\\ud800\"", "surrogate"},
      {"\"a\x01\"", "control character U+0001"},
      {"\"\xff\"", "ill-formed UTF-8 byte"},
      {"", "unexpected end of input"},
  };
  for (const auto& c : cases) {
    INFO(c.body);
    const ApiError e = rejected(c.body);
    CHECK(e.status == 400);
    CHECK(e.code == "invalid_json");
    CHECK(e.param.empty());
    CHECK_THAT(e.message, Catch::StartsWith("the request body is not valid JSON: ") && Catch::Contains(c.says));
    CHECK_THAT(e.message, !Catch::Contains("json.exception"));
    // nlohmann quotes the bytes it read, invalid UTF-8 included: the body sent is valid UTF-8.
    CHECK_THAT(sent(e)["error"]["message"].get<std::string>(), Catch::Contains(c.says));
  }
  // The token nlohmann quotes may be most of the body: the message keeps its start and its end.
  const ApiError e = rejected(chat_with("\"extra\": \"" + std::string(1 << 20, 'a') + "\x01\""));
  CHECK(e.code == "invalid_json");
  CHECK(e.message.size() < 300);
  CHECK_THAT(e.message, Catch::Contains("control character U+0001") && Catch::Contains("…"));
}

TEST_CASE("openai api: integers too large for their fields are 400s naming the field", "[server][json]") {
  const struct {
    std::string member, param, says;
  } cases[] = {
      {R"("max_tokens": 1e30)", "max_tokens", "'max_tokens' = 1e+30 is out of range [1, 2147483647]"},
      {R"("max_completion_tokens": 18446744073709551616)", "max_completion_tokens", "is out of range"},
      {R"("max_tokens": 18446744073709551615)", "max_tokens", "is out of range [1, 2147483647]"},
      {R"("seed": 1180591620717411303424)", "seed", "'seed' = 1.1805916207174113e+21 is out of range"},
      {R"("seed": -1e19)", "seed", "'seed' = -1e+19 is out of range [-9223372036854775808, 18446744073709551615]"},
      {R"("top_k": -1e20)", "top_k", "'top_k' = -1e+20 is out of range [0, 1048576]"},
      {R"("top_k": -9223372036854775808)", "top_k", "'top_k' = -9223372036854775808 is out of range"},
      {R"("n": 1e300)", "n", "'n' = 1e+300 is out of range"},
      {R"("max_tokens": 5.5)", "max_tokens", "'max_tokens' must be an integer"},
      {R"("seed": 0.5)", "seed", "'seed' must be an integer"},
      {R"("top_k": 3.0)", "top_k", "'top_k' must be an integer"},  // in range, but not written as one
  };
  for (const auto& c : cases) {
    INFO(c.member);
    const ApiError e = rejected(chat_with(c.member));
    CHECK(e.status == 400);
    CHECK(e.param == c.param);
    CHECK_THAT(e.message, Catch::Contains(c.says));
  }
  // Every 64-bit seed is taken, negative ones modulo 2^64.
  CHECK(parse_chat_request(json::parse(chat_with(R"("seed": 18446744073709551615)")), {}).options.seed == UINT64_MAX);
  CHECK(parse_chat_request(json::parse(chat_with(R"("seed": -1)")), {}).options.seed == UINT64_MAX);
}

TEST_CASE("openai api: messages quoting request text keep its NUL bytes", "[server][json]") {
  const std::string role = std::string("us\0er", 5);
  const ApiError e = rejected(R"({"messages": [{"role": "us\u0000er", "content": "hi"}]})");
  CHECK(e.status == 400);
  CHECK(e.param == "messages[0].role");
  CHECK_THAT(e.message, Catch::Contains("'messages[0].role' = \"" + role + "\" (expected"));
  CHECK(std::string(e.what()) == "'messages[0].role' = \"us");  // the C string stops there: logs only
  const json body = error_body(e);
  CHECK(body["error"]["message"] == e.message);
  CHECK_THAT(body.dump(), Catch::Contains(R"(\"us\u0000er\" (expected)"));

  const ApiError choice = rejected(chat_with(R"("tools": [)" + kTool.dump() + R"(], "tool_choice": "al\u0000ways")"));
  CHECK(choice.param == "tool_choice");
  CHECK_THAT(choice.message, Catch::Contains(std::string("\"al\0ways\"", 9)));
  const ApiError named = rejected(chat_with(R"("tools": [)" + kTool.dump() +
                                            R"(], "tool_choice": {"type": "function", "function": {"name": "g\u0000h"}})"));
  CHECK(named.param == "tool_choice");
  CHECK_THAT(named.message, Catch::Contains(std::string("function 'g\0h', which", 21)));
  CHECK_THAT(sent(named)["error"]["message"].get<std::string>(), Catch::Contains(std::string("g\0h", 3)));
}

TEST_CASE("openai api: a huge field quoted in a message is shortened", "[server][json]") {
  CHECK(quote_text("short") == "short");
  CHECK(quote_text(std::string(kQuoteBytes, 'a')) == std::string(kQuoteBytes, 'a'));
  CHECK(quote_text(std::string(kQuoteBytes + 1, 'a')) == std::string(kQuoteBytes, 'a') + "…");
  // Cut between characters: "é" (2 bytes) across the limit is left out whole.
  CHECK(quote_text(std::string(kQuoteBytes - 1, 'a') + "é") == std::string(kQuoteBytes - 1, 'a') + "…");

  const std::string huge(1 << 20, 'x');
  const ApiError role = rejected(R"({"messages": [{"role": ")" + huge + R"(", "content": "hi"}]})");
  CHECK(role.param == "messages[0].role");
  CHECK(role.message.size() < 300);
  CHECK_THAT(role.message, Catch::Contains(std::string(kQuoteBytes, 'x') + "…\" (expected"));
  const ApiError choice = rejected(chat_with(R"("tools": [)" + kTool.dump() + R"(], "tool_choice": ")" + huge + "\""));
  CHECK(choice.message.size() < 300);
  const ApiError named = rejected(chat_with(R"("tools": [)" + kTool.dump() +
                                            R"(], "tool_choice": {"type": "function", "function": {"name": ")" + huge +
                                            "\"}}"));
  CHECK(named.message.size() < 300);
  // Keys are request text too: a member nested too deeply, or holding too large a number.
  const ApiError deep = rejected(chat_with("\"" + huge + "\": " + std::string(200, '[') + std::string(200, ']')));
  CHECK(deep.param == std::string(kQuoteBytes, 'x') + "…");
  CHECK(deep.message.size() < 400);
  const ApiError number = rejected(chat_with("\"" + huge + "\": 1e999"));
  CHECK(number.code == "invalid_json");
  CHECK(number.param == std::string(kQuoteBytes, 'x') + "…");
  CHECK(number.message.size() < 400);
}

TEST_CASE("openai api: more messages than the limit are refused before any is read", "[server][limits]") {
  const Limits limits;
  CHECK(limits.max_messages == 1024);
  const json user = {{"role", "user"}, {"content", "hi"}};
  // Each entry is invalid: the count decides first.
  for (const json& each : {user, json(5)}) {
    const ApiError e = rejected(json{{"messages", messages(20000, each)}}.dump());
    CHECK(e.status == 400);
    CHECK(e.param == "messages");
    CHECK(e.code == "too_many_messages");
    CHECK(e.message == "'messages' has 20000 entries, above this server's limit of 1024");
  }
  CHECK(rejected(json{{"messages", messages(1024, user)}}.dump()).status == 0);
  CHECK(rejected(json{{"messages", messages(1025, user)}}.dump()).code == "too_many_messages");
  CHECK(rejected(json{{"messages", messages(3, user)}}.dump(), {.max_messages = 2}).message ==
        "'messages' has 3 entries, above this server's limit of 2");
  CHECK(rejected(json{{"messages", messages(5000, user)}}.dump(), {.max_messages = 0}).status == 0);  // 0: no limit
}

TEST_CASE("openai api: more tools than the limit are refused before any is read", "[server][limits]") {
  const Limits limits;
  CHECK(limits.max_tools == 128);
  const json msgs = json::parse(kHi);
  for (const json& each : {kTool, json("not a tool")}) {
    for (const char* choice : {"auto", "none"}) {
      const ApiError e = rejected(json{{"messages", msgs}, {"tools", messages(1000, each)}, {"tool_choice", choice}}.dump());
      CHECK(e.status == 400);
      CHECK(e.param == "tools");
      CHECK(e.code == "too_many_tools");
      CHECK(e.message == "'tools' has 1000 entries, above this server's limit of 128");
    }
  }
  CHECK(rejected(json{{"messages", msgs}, {"tools", messages(128, kTool)}}.dump()).status == 0);
  CHECK(rejected(json{{"messages", msgs}, {"tools", messages(129, kTool)}}.dump()).code == "too_many_tools");
  CHECK(rejected(json{{"messages", msgs}, {"tools", messages(500, kTool)}}.dump(), {.max_tools = 0}).status == 0);
  // The message limit is checked first.
  CHECK(rejected(json{{"messages", messages(2000, msgs[0])}, {"tools", messages(1000, kTool)}}.dump()).code ==
        "too_many_messages");
}
