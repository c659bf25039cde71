// The public step level: Sequence, Engine::step, logits of chosen rows, Generation in chunks,
// Prompt fitting, Tokenizer without the weights, and the errors of each.
#include <catch2/catch.hpp>
#include <cstring>

#include "qwenedge/qwenedge.hpp"
#include "test_util.hpp"

using namespace qwenedge;

namespace {

const Model& tiny() {
  static const Model m = Model::load(test::fixture("tiny-f32.q8_0.gguf"), {.threads = 2, .context = 256});
  return m;
}

std::vector<int32_t> ids(size_t from, size_t n) {
  static const std::vector<int32_t> all = test::read_ids(test::fixture("tokens.txt"));
  return {all.begin() + static_cast<std::ptrdiff_t>(from), all.begin() + static_cast<std::ptrdiff_t>(from + n)};
}

bool same(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

int32_t argmax(std::span<const float> v) { return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin()); }

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    return e.what();
  }
  FAIL("no qwenedge::Error thrown");
  return {};
}

GenerateOptions greedy(int n) {
  GenerateOptions o;
  o.max_tokens = n;
  o.temperature = 0.0f;
  o.ignore_eos = true;
  return o;
}

}  // namespace

TEST_CASE("Step: sequences of different prompt lengths in one step equal each run alone", "[step]") {
  const size_t V = static_cast<size_t>(tiny().info().vocab_size);
  const size_t lengths[] = {1, 7, 30, 3};
  Engine engine(tiny());
  std::vector<Sequence> together, alone;
  std::vector<std::vector<int32_t>> prompts;
  for (size_t i = 0; i < 4; ++i) {
    together.emplace_back(tiny(), 64);
    alone.emplace_back(tiny(), 64);
    prompts.push_back(ids(5 * i, lengths[i]));
  }
  std::vector<StepInput> step;
  for (size_t i = 0; i < 4; ++i) step.push_back({&together[i], prompts[i]});
  engine.step(step);
  for (int round = 0; round < 5; ++round) {
    std::vector<int32_t> next(4);
    step.clear();
    for (size_t i = 0; i < 4; ++i) {
      if (round == 0) engine.step({{&alone[i], prompts[i]}});
      INFO("sequence " << i << ", round " << round);
      REQUIRE(same(together[i].logits(), alone[i].logits()));
      next[i] = argmax(together[i].logits());
    }
    for (size_t i = 0; i < 4; ++i) step.push_back({&together[i], {&next[i], 1}});
    engine.step(step);
    for (size_t i = 0; i < 4; ++i) engine.step({{&alone[i], {&next[i], 1}}});
  }
  for (size_t i = 0; i < 4; ++i) {
    CHECK(together[i].size() == static_cast<int64_t>(lengths[i] + 5));
    CHECK(std::equal(together[i].tokens().begin(), together[i].tokens().end(), alone[i].tokens().begin(), alone[i].tokens().end()));
  }
  CHECK(V == together[0].logits().size());
}

TEST_CASE("Step: logits of every row, chosen rows and none agree with one another", "[step]") {
  const auto V = static_cast<size_t>(tiny().info().vocab_size);
  const std::vector<int32_t> prompt = ids(0, 12);
  Engine engine(tiny());
  Sequence all(tiny()), rows(tiny()), last(tiny()), chunked(tiny());
  std::vector<float> every(prompt.size() * V), chosen(3 * V);
  const int32_t pick[] = {0, 5, 11};
  engine.step({{&all, prompt, Logits::kAll, {}, every.data()},
               {&rows, prompt, Logits::kRows, pick, chosen.data()},
               {&last, prompt}});
  for (size_t r = 0; r < 3; ++r) {
    CHECK(same({&chosen[r * V], V}, {&every[static_cast<size_t>(pick[r]) * V], V}));
  }
  CHECK(same(last.logits(), {&every[11 * V], V}));
  // A prompt in chunks without logits, then its end: the same last logits and cache.
  const std::span<const int32_t> p(prompt);
  engine.step({{&chunked, p.first(5), Logits::kNone}});
  engine.step({{&chunked, p.subspan(5, 4), Logits::kNone}});
  engine.step({{&chunked, p.subspan(9)}});
  CHECK(same(chunked.logits(), last.logits()));
  CHECK(chunked.size() == 12);
}

TEST_CASE("Step: a bad input is refused by name and changes no sequence", "[step]") {
  Engine engine(tiny());
  Sequence a(tiny(), 16), b(tiny(), 16);
  const std::vector<int32_t> ok = ids(0, 4);
  engine.step({{&a, ok}});
  const std::vector<float> before(a.logits().begin(), a.logits().end());
  const int32_t bad = static_cast<int32_t>(tiny().info().vocab_size);
  CHECK_THAT(error_of([&] { engine.step({{&a, {&bad, 1}}}); }), Catch::Contains("step input 0: token id"));
  CHECK_THAT(error_of([&] { engine.step({{&b, ok}, {&a, {&bad, 1}}}); }), Catch::Contains("step input 1"));
  CHECK_THAT(error_of([&] { engine.step({{&a, ok}, {&a, ok}}); }), Catch::Contains("the same sequence as input 0"));
  const std::vector<int32_t> long_prompt = ids(0, 13);
  CHECK_THAT(error_of([&] { engine.step({{&a, long_prompt}}); }), Catch::Contains("context full"));
  const int32_t backwards[] = {2, 1};
  std::vector<float> out(2 * static_cast<size_t>(tiny().info().vocab_size));
  CHECK_THAT(error_of([&] { engine.step({{&b, ok, Logits::kRows, backwards, out.data()}}); }), Catch::Contains("strictly increasing"));
  CHECK_THAT(error_of([&] { engine.step({{&b, ok, Logits::kAll}}); }), Catch::Contains("out is null"));
  CHECK_THAT(error_of([&] { engine.step({{nullptr, ok}}); }), Catch::Contains("no sequence"));
  const Model other = Model::load(test::fixture("tiny-f32.q8_0.gguf"), {.threads = 1, .context = 64});
  Sequence foreign(other, 16);
  CHECK_THAT(error_of([&] { engine.step({{&foreign, ok}}); }), Catch::Contains("another model"));
  CHECK(a.size() == 4);
  CHECK(b.size() == 0);
  CHECK(same(a.logits(), before));
  CHECK_THAT(error_of([&] { a.truncate(5); }), Catch::Contains("truncate(5)"));
  CHECK_THAT(error_of([&] { Sequence s(tiny(), -1); }), Catch::Contains("outside"));
  CHECK_THAT(error_of([&] { Engine e(tiny(), {.threads = -1}); }), Catch::Contains("threads"));
}

TEST_CASE("Sequence: truncate, common prefix and reuse", "[step]") {
  Engine engine(tiny());
  Sequence s(tiny(), 32), fresh(tiny(), 32);
  const std::vector<int32_t> p = ids(0, 10), q = ids(20, 3);
  engine.step({{&s, p}});
  CHECK(s.common_prefix(p) == 10);
  CHECK(s.common_prefix(ids(0, 4)) == 4);
  s.truncate(6);
  CHECK(s.size() == 6);
  CHECK(std::equal(s.tokens().begin(), s.tokens().end(), p.begin()));
  engine.step({{&s, q}});
  std::vector<int32_t> whole(p.begin(), p.begin() + 6);
  whole.insert(whole.end(), q.begin(), q.end());
  engine.step({{&fresh, whole}});
  CHECK(same(s.logits(), fresh.logits()));
  Sequence moved = std::move(s);
  CHECK(moved.size() == 9);
}

TEST_CASE("Generation: a prompt fed in chunks gives the answer fed whole", "[step]") {
  const Prompt prompt = Prompt::chat(tiny(), {{"system", "Be brief.", {}}, {"user", "Hello! 你好, how are you today?", {}}});
  Engine engine(tiny());
  Sequence whole_seq(tiny()), chunk_seq(tiny());
  Generation whole(whole_seq, prompt, greedy(10)), chunked(chunk_seq, prompt, greedy(10));
  CHECK(chunked.prefilling());
  int steps = 0;
  while (!whole.done()) {
    engine.step({whole.input()});
    whole.advance();
  }
  while (!chunked.done()) {
    const StepInput in = chunked.input(7);
    CHECK(static_cast<int64_t>(in.tokens.size()) <= 7);
    engine.step({in});
    const std::string text = chunked.advance();
    if (in.logits == Logits::kNone) CHECK(text.empty());
    ++steps;
  }
  const auto n_prompt = static_cast<int>(prompt.ids().size());
  CHECK(steps == (n_prompt + 6) / 7 + 9);
  CHECK(chunked.result().tokens == whole.result().tokens);
  CHECK(chunked.result().text == whole.result().text);
  CHECK(chunked.result().timings.prompt_tokens == n_prompt);
}

TEST_CASE("Generation: the next turn reuses the sequence's prefix, and cancel ends it", "[step]") {
  Engine engine(tiny());
  Sequence seq(tiny());
  std::vector<Message> chat = {{"user", "Hi", {}}};
  Generation first(seq, Prompt::chat(tiny(), chat), greedy(4));
  while (!first.done()) {
    engine.step({first.input()});
    first.advance();
  }
  chat.push_back({"assistant", first.result().text, {}});
  chat.push_back({"user", "And then?", {}});
  Generation second(seq, Prompt::chat(tiny(), chat), greedy(4));
  CHECK(second.result().timings.cached_tokens > 0);
  engine.step({second.input()});
  second.advance();
  second.cancel();
  CHECK(second.done());
  CHECK(second.feed().empty());
  CHECK(second.input().tokens.empty());
  CHECK(second.result().finish == FinishReason::kCancelled);
}

TEST_CASE("Prompt: fitted drops whole turns once, and a fitted prompt fits as it is", "[step]") {
  std::vector<Message> chat = {{"system", "S", {}}};
  for (int i = 0; i < 6; ++i) {
    chat.push_back({"user", "question number " + std::to_string(i) + " with some words in it", {}});
    chat.push_back({"assistant", "answer number " + std::to_string(i) + " with some more words", {}});
  }
  chat.push_back({"user", "last", {}});
  const Prompt whole = Prompt::chat(tiny(), chat);
  const auto n = static_cast<int64_t>(whole.ids().size());
  int64_t dropped = -1;
  const Prompt fitted = whole.fitted(n / 2, dropped);
  CHECK(dropped > 0);
  CHECK(static_cast<int64_t>(fitted.ids().size()) <= n / 2);
  CHECK(static_cast<int64_t>(fitted.ids().size()) + dropped == n);
  int64_t again = -1;
  CHECK(fitted.fit(n / 2, false, again) == std::vector<int32_t>(fitted.ids().begin(), fitted.ids().end()));
  CHECK(again == 0);
  // Plain text keeps its newest tokens.
  const Prompt text = Prompt::tokens(ids(0, 20));
  CHECK(text.fit(5, false, dropped) == ids(15, 5));
  CHECK(dropped == 15);
  CHECK_THAT(error_of([&] { Prompt::tokens({}); }), Catch::Contains("empty"));
  CHECK_THAT(error_of([&] { Prompt::chat(tiny(), {{"robot", "x", {}}}); }), Catch::Contains("unknown role"));
  CHECK_THAT(error_of([&] { validate_options(tiny(), greedy(0)); }), Catch::Contains("max_tokens"));
}

TEST_CASE("Tokenizer: loaded without weights, from GGUF or tokenizer.json, as the model's", "[step][tokenizer]") {
  const Tokenizer from_gguf = Tokenizer::load(test::fixture("tiny-f32.q8_0.gguf"));
  const Tokenizer from_json = Tokenizer::load(std::string(QWENEDGE_SHARED_DIR) + "/qwen2.5-0.5b-instruct/tokenizer.json");
  const std::string text = "Hello, 世界! <|im_end|> 123";
  CHECK(from_gguf.encode(text) == tiny().tokenize(text));
  CHECK(from_json.encode(text) == tiny().tokenize(text));
  CHECK(from_gguf.encode(text, true) == tiny().tokenize(text, true));
  const std::vector<Message> chat = {{"user", "你好", {}}};
  CHECK(from_json.render_chat(chat) == tiny().render_chat(chat));
  const Prompt prompt = Prompt::chat(tiny(), chat);
  CHECK(from_gguf.encode_chat(chat) == std::vector<int32_t>(prompt.ids().begin(), prompt.ids().end()));
  CHECK(from_gguf.decode(from_gguf.encode(text)) == text);
  CHECK(tiny().tokenizer().encode(text) == from_gguf.encode(text));
  CHECK(from_gguf.is_special(from_gguf.token_id("<|im_end|>")));
  CHECK(from_gguf.vocab_size() > 151000);
  try {
    Tokenizer::load("/nonexistent/model.gguf");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kIo);
  }
}
