// The public API: Model, Session, sampling, KV-prefix reuse, context overflow, streaming, errors.
#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "qwenedge/qwenedge.hpp"
#include "test_util.hpp"

using namespace qwenedge;

namespace {

// A tiny random model with the real Qwen2.5 tokenizer: its text is gibberish, but every token
// path (multi-byte characters split across tokens, specials) shows up.
const Model& tiny() {
  static const Model m = Model::load(test::fixture("tiny-f32.q8_0.gguf"), {.threads = 2, .context = 512});
  return m;
}

GenerateOptions greedy(int n) {
  GenerateOptions o;
  o.max_tokens = n;
  o.temperature = 0.0f;
  o.repetition_penalty = 1.0f;
  o.ignore_eos = true;
  return o;
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    i += n;
  }
  return true;
}

template <typename Fn>
ErrorCode error_of(Fn&& fn, std::string* message = nullptr) {
  try {
    fn();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  FAIL("no qwenedge::Error thrown");
  return ErrorCode::kInternal;
}

}  // namespace

TEST_CASE("A second chat turn prefills only its new tokens", "[session]") {
  Session s(tiny());
  std::vector<Message> msgs = {{"system", "You are terse.", {}}, {"user", "Hello! 你好", {}}};
  const Result first = s.chat(msgs, greedy(12));
  CHECK(first.timings.cached_tokens == 0);
  CHECK(first.timings.prefilled_tokens == first.timings.prompt_tokens);
  CHECK(first.tokens.size() == 12);
  msgs.push_back({"assistant", first.text, {}});
  msgs.push_back({"user", "And one more question?", {}});
  const Result second = s.chat(msgs, greedy(12));
  // The first turn's prompt is reused (but for its last token when the answer's re-encoding
  // merges with it, e.g. "\n" + "\n" -> "\n\n"); only the rest of the turn and the new
  // question are computed.
  CHECK(second.timings.cached_tokens >= first.timings.prompt_tokens - 1);
  CHECK(second.timings.prefilled_tokens == second.timings.prompt_tokens - second.timings.cached_tokens);
  CHECK(second.timings.prefilled_tokens <= 30);
  CHECK(s.cached_tokens() == second.timings.prompt_tokens + 11);
  WARN("second turn: " << second.timings.prompt_tokens << " prompt tokens, " << second.timings.cached_tokens
                       << " reused, " << second.timings.prefilled_tokens << " computed");
}

TEST_CASE("Greedy output is identical across threads, runs and session histories", "[session]") {
  std::vector<Message> turn1 = {{"user", "Tell me a story about the sea.", {}}};
  const Model one = Model::load(test::fixture("tiny-f32.q8_0.gguf"), {.threads = 1, .context = 512});
  Session a(tiny()), b(one);
  const Result ra = a.chat(turn1, greedy(24));
  const Result rb = b.chat(turn1, greedy(24));
  CHECK(ra.tokens == rb.tokens);
  CHECK(Session(tiny()).chat(turn1, greedy(24)).tokens == ra.tokens);

  // A long session and a fresh session given the same full history agree.
  std::vector<Message> turn2 = turn1;
  turn2.push_back({"assistant", ra.text, {}});
  turn2.push_back({"user", "Shorter, please.", {}});
  const Result long_session = a.chat(turn2, greedy(16));
  const Result fresh = Session(tiny()).chat(turn2, greedy(16));
  CHECK(long_session.tokens == fresh.tokens);
  CHECK(long_session.timings.cached_tokens > fresh.timings.cached_tokens);
}

TEST_CASE("A fixed seed reproduces sampled text exactly", "[session]") {
  GenerateOptions o;
  o.max_tokens = 32;
  o.temperature = 3.0f;  // the random tiny model is very peaked: flatten it to sample anything
  o.top_k = 0;
  o.top_p = 0.99f;
  o.min_p = 0.0f;
  o.seed = 1234;
  o.ignore_eos = true;
  const std::vector<Message> msgs = {{"user", "Sample something", {}}};
  const Result x = Session(tiny()).chat(msgs, o);
  const Result y = Session(tiny()).chat(msgs, o);
  CHECK(x.tokens == y.tokens);
  CHECK(x.text == y.text);
  o.seed = 99;
  CHECK(Session(tiny()).chat(msgs, o).tokens != x.tokens);
}

TEST_CASE("Two sessions on two threads equal the same sessions run one after another", "[session]") {
  const std::vector<Message> m1 = {{"user", "First conversation", {}}};
  const std::vector<Message> m2 = {{"user", "第二个对话", {}}};
  const Result s1 = Session(tiny()).chat(m1, greedy(20));
  const Result s2 = Session(tiny()).chat(m2, greedy(20));
  Result p1, p2;
  std::thread t1([&] { p1 = Session(tiny()).chat(m1, greedy(20)); });
  std::thread t2([&] { p2 = Session(tiny()).chat(m2, greedy(20)); });
  t1.join();
  t2.join();
  CHECK(p1.tokens == s1.tokens);
  CHECK(p2.tokens == s2.tokens);
}

TEST_CASE("A session driven past its context keeps answering, dropping the oldest turns", "[session]") {
  Session s(tiny(), {.context = 160});
  std::vector<Message> msgs = {{"system", "Be brief.", {}}};
  int64_t dropped = 0;
  for (int turn = 0; turn < 8; ++turn) {
    msgs.push_back({"user", "Turn " + std::to_string(turn) + ": please say something long and detailed.", {}});
    const Result r = s.chat(msgs, greedy(40));
    CHECK(r.tokens.size() == 40);
    CHECK(s.cached_tokens() <= 160);
    dropped += r.dropped_tokens;
    msgs.push_back({"assistant", r.text, {}});
  }
  CHECK(dropped > 0);
  // An answer longer than the whole context still completes: the history shifts mid-answer.
  const Result longer = s.chat(msgs, greedy(200));
  CHECK(longer.tokens.size() == 200);
  CHECK(longer.finish == FinishReason::kLength);
}

TEST_CASE("Streaming hands out whole UTF-8 characters only, and their sum is the text", "[session]") {
  GenerateOptions o;
  o.max_tokens = 200;
  o.temperature = 1.5f;
  o.top_k = 0;
  o.top_p = 1.0f;
  o.seed = 7;
  o.ignore_eos = true;
  std::string joined;
  int chunks = 0;
  const Result r = Session(tiny()).chat({{"user", "表情符号 🎉 and 中文", {}}}, o, [&](std::string_view t) {
    CHECK(valid_utf8(t));
    CHECK_FALSE(t.empty());
    joined += t;
    ++chunks;
    return true;
  });
  CHECK(joined == r.text);
  CHECK(chunks > 10);
  CHECK(valid_utf8(r.text));
}

TEST_CASE("Cancelling from the callback stops within one token", "[session]") {
  int calls = 0;
  const Result r = Session(tiny()).chat({{"user", "Go on", {}}}, greedy(100), [&](std::string_view) {
    ++calls;
    return false;
  });
  CHECK(calls == 1);
  CHECK(r.finish == FinishReason::kCancelled);
  CHECK(r.tokens.size() < 5);
}

TEST_CASE("Stop strings end generation and their text is never emitted", "[session]") {
  const std::vector<Message> msgs = {{"user", "Write anything", {}}};
  const Result full = Session(tiny()).chat(msgs, greedy(60));
  REQUIRE(full.text.size() > 20);
  // A stop string taken from the middle of the answer (whole characters only).
  size_t from = 10;
  while (from < full.text.size() && (static_cast<unsigned char>(full.text[from]) & 0xc0) == 0x80) ++from;
  size_t to = from + 4;
  while (to < full.text.size() && (static_cast<unsigned char>(full.text[to]) & 0xc0) == 0x80) ++to;
  const std::string stop = full.text.substr(from, to - from);
  GenerateOptions o = greedy(60);
  o.stop = {"never-appears-in-the-output", stop};
  std::string streamed;
  const Result r = Session(tiny()).chat(msgs, o, [&](std::string_view t) {
    streamed += t;
    return true;
  });
  CHECK(r.finish == FinishReason::kStop);
  CHECK(r.text == full.text.substr(0, full.text.find(stop)));
  CHECK(streamed == r.text);
}

TEST_CASE("max_tokens ends with finish reason length and complete() runs without a template", "[session]") {
  Session s(tiny());
  const Result r = s.complete("Once upon a time", greedy(7));
  CHECK(r.finish == FinishReason::kLength);
  CHECK(r.tokens.size() == 7);
  CHECK(r.timings.prompt_tokens == static_cast<int64_t>(tiny().tokenize("Once upon a time").size()));
  s.reset();
  CHECK(s.cached_tokens() == 0);
}

TEST_CASE("Bad input gives a clear Error", "[session][bad-input]") {
  std::string msg;
  CHECK(error_of([] { Model::load("/nonexistent/model.gguf"); }, &msg) == ErrorCode::kIo);
  CHECK_THAT(msg, Catch::Contains("/nonexistent/model.gguf"));
  CHECK(error_of([] { Model::load(test::fixture("tokens.txt")); }) == ErrorCode::kBadModelFile);
  CHECK(error_of([] { Model::load(test::fixture("tiny-f32.q8_0.gguf"), {.context = 1 << 20}); }, &msg) == ErrorCode::kInvalidArgument);
  CHECK_THAT(msg, Catch::Contains("larger than the model allows"));
  CHECK(error_of([] { Model::load(test::fixture("tiny-f32.q8_0.gguf"), {.threads = -1}); }) == ErrorCode::kInvalidArgument);

  // A GGUF of another architecture: patch "qwen2" in the header to "llama".
  std::vector<uint8_t> bytes = test::read_bytes(test::fixture("tiny-f32.q8_0.gguf"));
  const std::string needle = "qwen2";
  auto it = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
  REQUIRE(it != bytes.end());
  std::copy_n("llama", 5, it);
  const std::string llama = (std::filesystem::temp_directory_path() / "qwenedge-llama.gguf").string();
  test::write_bytes(llama, bytes);
  CHECK(error_of([&] { Model::load(llama); }, &msg) == ErrorCode::kUnsupported);
  CHECK_THAT(msg, Catch::Contains("llama"));

  Session s(tiny());
  CHECK(error_of([&] { s.chat({}, greedy(4)); }, &msg) == ErrorCode::kInvalidArgument);
  CHECK_THAT(msg, Catch::Contains("empty"));
  CHECK(error_of([&] { s.chat({{"robot", "hi", {}}}, greedy(4)); }, &msg) == ErrorCode::kInvalidArgument);
  CHECK_THAT(msg, Catch::Contains("unknown role \"robot\""));
  auto with = [&](auto&& set) {
    GenerateOptions o = greedy(4);
    set(o);
    return error_of([&] { s.chat({{"user", "hi", {}}}, o); }, &msg);
  };
  CHECK(with([](GenerateOptions& o) { o.temperature = -1.0f; }) == ErrorCode::kInvalidArgument);
  CHECK_THAT(msg, Catch::Contains("temperature"));
  CHECK(with([](GenerateOptions& o) { o.top_p = 0.0f; }) == ErrorCode::kInvalidArgument);
  CHECK(with([](GenerateOptions& o) { o.top_k = -3; }) == ErrorCode::kInvalidArgument);
  CHECK(with([](GenerateOptions& o) { o.min_p = 1.5f; }) == ErrorCode::kInvalidArgument);
  CHECK(with([](GenerateOptions& o) { o.repetition_penalty = 0.0f; }) == ErrorCode::kInvalidArgument);
  CHECK(with([](GenerateOptions& o) { o.presence_penalty = 3.0f; }) == ErrorCode::kInvalidArgument);
  CHECK(with([](GenerateOptions& o) { o.max_tokens = 0; }) == ErrorCode::kInvalidArgument);
  CHECK(with([](GenerateOptions& o) { o.stop = {""}; }) == ErrorCode::kInvalidArgument);
  // A prompt that cannot fit the context is an error, not a crash.
  Session small(tiny(), {.context = 32});
  CHECK(error_of([&] { small.chat({{"user", std::string(2000, 'x') + " long", {}}}, greedy(4)); }, &msg) == ErrorCode::kInvalidArgument);
  CHECK_THAT(msg, Catch::Contains("context"));
  // The session still works after errors.
  CHECK(s.chat({{"user", "hi", {}}}, greedy(3)).tokens.size() == 3);
}
