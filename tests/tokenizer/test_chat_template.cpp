// Chat template: byte-identical to Hugging Face's Jinja rendering (goldens/chat.json, made by
// make_chat_goldens.py) and ids identical to the reference tokenizer's (goldens/chat_ids.json).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "qwenedge/error.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/json_limits.hpp"
#include "tokenizer/normalize.hpp"
#include "tokenizer/python_json.hpp"
#include "tokenizer_test_util.hpp"

using namespace qwenedge::tokenizer;
using Json = nlohmann::ordered_json;

namespace {

struct Conversation {
  std::string name;
  std::vector<ChatMessage> messages;
  ChatOptions options;
  std::string expected_text;
};

std::vector<Conversation> load_conversations() {
  const Json all = Json::parse(test::read_file(test::source_dir() / "tests/tokenizer/goldens/chat.json"));
  std::vector<Conversation> out;
  for (const Json& c : all) {
    Conversation conv;
    conv.name = c["name"].get<std::string>();
    for (const Json& m : c["messages"]) {
      ChatMessage msg{m["role"].get<std::string>(), m["content"].get<std::string>(), {}};
      if (m.contains("tool_calls")) {
        for (const Json& tc : m["tool_calls"]) {
          const Json& f = tc.contains("function") ? tc["function"] : tc;
          const Json& args = f["arguments"];
          // A string holding JSON stays a string value: pass its JSON text, quotes included.
          msg.tool_calls.push_back({f["name"].get<std::string>(), args.dump()});
        }
      }
      conv.messages.push_back(std::move(msg));
    }
    if (!c["tools"].is_null()) {
      for (const Json& t : c["tools"]) conv.options.tools.push_back(t.dump());
    }
    conv.options.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    conv.expected_text = c["text"].get<std::string>();
    out.push_back(std::move(conv));
  }
  return out;
}

}  // namespace

TEST_CASE("chat template renders like the Jinja template", "[tokenizer][chat]") {
  const auto convs = load_conversations();
  REQUIRE(convs.size() >= 20);
  for (const Conversation& c : convs) {
    INFO("conversation " << c.name);
    const ChatPrompt p = render_chat(c.messages, c.options);
    CHECK(p.text == c.expected_text);
    for (const auto& s : p.specials) {
      const std::string_view t = std::string_view(p.text).substr(s.offset, s.length);
      CHECK((t == "<|im_start|>" || t == "<|im_end|>"));
    }
  }
}

TEST_CASE("chat prompt ids match the reference tokenizer", "[tokenizer][chat]") {
  QWENEDGE_REQUIRE_QWEN_TOKENIZER();
  const auto convs = load_conversations();
  const Json ids = Json::parse(test::read_file(test::source_dir() / "tests/tokenizer/goldens/chat_ids.json"));
  REQUIRE(ids.size() == convs.size());
  const Tokenizer& tok = test::qwen_tokenizer();
  for (size_t i = 0; i < convs.size(); ++i) {
    const Conversation& c = convs[i];
    INFO("conversation " << c.name);
    REQUIRE(ids[i]["name"] == c.name);
    const auto expected = ids[i]["ids"].get<std::vector<int32_t>>();
    const ChatPrompt p = render_chat(c.messages, c.options);
    const auto got = encode_chat(tok, p);
    CHECK(tok.decode(got) == normalize_nfc(p.text));
    bool special_text_in_content = false;
    for (const ChatMessage& m : c.messages) {
      special_text_in_content |= m.content.find("<|im_") != std::string::npos;
    }
    if (!special_text_in_content) {
      CHECK(got == expected);
    } else {
      // The reference parses the user's "<|im_end|>" as the real token; we must not.
      CHECK(got != expected);
      CHECK(std::count(got.begin(), got.end(), 151645) == 2);
      CHECK(std::count(got.begin(), got.end(), 151644) == 3);
    }
  }
}

TEST_CASE("chat prompt is stable from turn to turn", "[tokenizer][chat]") {
  std::vector<ChatMessage> conv = {{"system", "Be brief.", {}}, {"user", "Hi", {}}};
  const std::vector<std::string> replies = {"Hello!", " Leading space and trailing newline\n", "你好😀"};
  const std::vector<std::string> questions = {"How are you?", "And in Chinese?", "Bye"};
  for (size_t turn = 0; turn < replies.size(); ++turn) {
    const ChatPrompt before = render_chat(conv, {});
    conv.push_back({"assistant", replies[turn], {}});
    const std::string generated = before.text + replies[turn] + "<|im_end|>";
    conv.push_back({"user", questions[turn], {}});
    const ChatPrompt after = render_chat(conv, {});
    REQUIRE(after.text.compare(0, generated.size(), generated) == 0);
    if (test::have_qwen_tokenizer()) {
      const auto a = encode_chat(test::qwen_tokenizer(), before);
      const auto b = encode_chat(test::qwen_tokenizer(), after);
      REQUIRE(b.size() > a.size());
      CHECK(std::equal(a.begin(), a.end(), b.begin()));
    }
  }
}

TEST_CASE("chat template edge cases", "[tokenizer][chat]") {
  CHECK_THROWS_AS(render_chat({}, {}), qwenedge::Error);
  const std::vector<ChatMessage> one = {{"user", "x", {}}};
  ChatOptions bad_tool;
  bad_tool.tools = {"{not json"};
  CHECK_THROWS_AS(render_chat(one, bad_tool), qwenedge::Error);
  ChatOptions custom;
  custom.default_system = "Custom default.";
  custom.add_generation_prompt = false;
  CHECK(render_chat(one, custom).text == "<|im_start|>system\nCustom default.<|im_end|>\n<|im_start|>user\nx<|im_end|>\n");
  // Arguments that are not JSON are rendered as a JSON string, never rejected.
  const std::vector<ChatMessage> call = {{"user", "x", {}}, {"assistant", "", {{"f", "not {json"}}}};
  CHECK(render_chat(call, custom).text.find("{\"name\": \"f\", \"arguments\": \"not {json\"}") != std::string::npos);
}

TEST_CASE("python float repr", "[tokenizer][chat]") {
  CHECK(python_float_repr(0.0) == "0.0");
  CHECK(python_float_repr(-0.0) == "-0.0");
  CHECK(python_float_repr(1.0) == "1.0");
  CHECK(python_float_repr(0.1) == "0.1");
  CHECK(python_float_repr(1e16) == "1e+16");
  CHECK(python_float_repr(1e15) == "1000000000000000.0");
  CHECK(python_float_repr(123456789012345.6) == "123456789012345.6");
  CHECK(python_float_repr(0.0001) == "0.0001");
  CHECK(python_float_repr(0.00001) == "1e-05");
  CHECK(python_float_repr(1.5e-7) == "1.5e-07");
  CHECK(python_float_repr(-2.5e300) == "-2.5e+300");
  CHECK(python_float_repr(5e-324) == "5e-324");
  CHECK(python_float_repr(1.7976931348623157e308) == "1.7976931348623157e+308");
  CHECK(python_float_repr(3.14) == "3.14");
  CHECK(python_float_repr(100.0) == "100.0");
  CHECK(python_json_dumps(R"({"a":[1,2.0,"x\u0001\n\"é"],"b":{},"c":[],"d":null,"e":true})", "t") ==
        R"({"a": [1, 2.0, "x\u0001\n\"é"], "b": {}, "c": [], "d": null, "e": true})");
}

namespace {

// `depth` arrays nested in each other around `inner`.
std::string nested(int depth, const std::string& inner = "1") {
  const auto n = static_cast<size_t>(depth);
  return std::string(n, '[') + inner + std::string(n, ']');
}

// The message of the Error(kInvalidArgument) that `f` throws, or "(no error)".
template <class F>
std::string invalid_argument(F&& f) {
  try {
    f();
  } catch (const qwenedge::Error& e) {
    CHECK(e.code() == qwenedge::ErrorCode::kInvalidArgument);
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("JSON nested deeper than the limit is refused before any recursion", "[tokenizer][chat]") {
  const std::string limit = "more than " + std::to_string(kMaxJsonDepth) + " levels deep";
  const std::vector<ChatMessage> user = {{"user", "x", {}}};
  for (const int depth : {10'000, 40'000, 100'000}) {
    INFO("depth " << depth);
    CHECK_THAT(invalid_argument([&] { python_json_dumps(nested(depth), "v"); }), Catch::Contains(limit));
    ChatOptions tools;
    tools.tools = {R"({"type": "function", "function": {"name": "f", "parameters": {"a": )" + nested(depth) + "}}}"};
    CHECK_THAT(invalid_argument([&] { render_chat(user, tools); }), Catch::Contains("tools[0]: ") && Catch::Contains(limit));
    const std::vector<ChatMessage> call = {{"user", "x", {}}, {"assistant", "", {{"f", nested(depth)}}}};
    CHECK_THAT(invalid_argument([&] { render_chat(call); }),
               Catch::Contains("tool call arguments") && Catch::Contains(limit));
    // Unclosed, so not JSON: rendered as the string it is, like any other text that is not JSON.
    const std::vector<ChatMessage> open = {{"user", "x", {}}, {"assistant", "", {{"f", std::string(static_cast<size_t>(depth), '[')}}}};
    CHECK(render_chat(open).text.find("\"arguments\": \"[[[") != std::string::npos);
  }
  // The limit itself still works, and renders as Python does.
  CHECK(python_json_dumps(nested(kMaxJsonDepth), "v") == nested(kMaxJsonDepth));
  CHECK_THAT(invalid_argument([&] { python_json_dumps(nested(kMaxJsonDepth + 1), "v"); }), Catch::Contains(limit));
  const std::string args = R"({"a": )" + nested(100) + "}";
  const std::vector<ChatMessage> call = {{"user", "x", {}}, {"assistant", "", {{"f", args}}}};
  CHECK(render_chat(call).text.find("{\"name\": \"f\", \"arguments\": " + args + "}") != std::string::npos);
}

TEST_CASE("a tokenizer.json nested deeper than the limit is refused", "[tokenizer]") {
  const auto path = std::filesystem::temp_directory_path() / "qwenedge-test-deep-tokenizer.json";
  {
    std::ofstream out(path, std::ios::binary);
    out << R"({"model": {"type": "BPE"}, "normalizer": {"type": "Lowercase", "x": )" << nested(40'000) << "}}";
  }
  std::string message = "(no error)";
  try {
    (void)load_vocab_from_hf(path.string(), "");
  } catch (const qwenedge::Error& e) {
    CHECK(e.code() == qwenedge::ErrorCode::kBadModelFile);
    message = e.what();
  }
  std::filesystem::remove(path);
  CHECK_THAT(message, Catch::Contains("more than " + std::to_string(kMaxJsonDepth) + " levels deep"));
}
