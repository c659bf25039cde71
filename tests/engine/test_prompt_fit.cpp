// Prompt fitting, which cuts the prompt's tokens at the block starts recorded when it was
// tokenized, against its definition: drop the oldest turn after the system prompt, render and
// tokenize again, until it fits (the quadratic algorithm it replaced, kept here as the reference).
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "engine/runtime/generation.hpp"
#include "engine/runtime/model_impl.hpp"
#include "qwenedge/qwenedge.hpp"
#include "test_util.hpp"
#include "tokenizer/chat_template.hpp"

using namespace qwenedge;
using tokenizer::ChatMessage;
using tokenizer::ChatOptions;

namespace {

const Model& tiny() {
  static const Model m = Model::load(test::fixture("tiny-f32.q8_0.gguf"), {.threads = 1, .context = 256});
  return m;
}

const tokenizer::Tokenizer& tok() { return detail::ModelAccess::impl(tiny()).tokenizer; }

std::vector<int32_t> encode(const std::vector<ChatMessage>& chat, const ChatOptions& options) {
  return tokenizer::encode_chat(tok(), tokenizer::render_chat(chat, options));
}

struct Fitted {
  std::vector<int32_t> ids;
  int64_t dropped = -1;
  std::vector<ChatMessage> kept;
  std::string error;  // the message when it cannot fit
};

// The reference, as the engine did it before: after each dropped turn the whole rest is rendered
// and tokenized again (and a last turn cut in its middle keeps the whole system block). `sizes` (when not null) receives the size after each drop.
Fitted reference_fit(const std::vector<ChatMessage>& chat, const ChatOptions& options, int64_t budget, bool truncate,
                     std::vector<int64_t>* sizes = nullptr) {
  Fitted r;
  const std::vector<int32_t> full = encode(chat, options);
  std::vector<ChatMessage> kept = chat;
  std::vector<int32_t> out = full;
  const size_t first = kept[0].role == "system" ? 1 : 0;
  while (static_cast<int64_t>(out.size()) > budget) {
    size_t next_user = first + 1;
    while (next_user < kept.size() && kept[next_user].role != "user") ++next_user;
    if (next_user < kept.size()) {
      kept.erase(kept.begin() + static_cast<std::ptrdiff_t>(first), kept.begin() + static_cast<std::ptrdiff_t>(next_user));
      out = encode(kept, options);
      if (sizes) sizes->push_back(static_cast<int64_t>(out.size()));
      continue;
    }
    // The head is the system block (the given one with the tools, or the default one): up to
    // the second <|im_start|> token (the same text in a message is not that token).
    const int32_t im_start = tok().token_id("<|im_start|>");
    const auto second = std::find(std::find(out.begin(), out.end(), im_start) + 1, out.end(), im_start);
    const auto head = static_cast<int64_t>(second - out.begin());
    if (!truncate || budget - head < 16) {
      r.error = "the last message needs " + std::to_string(out.size()) + " tokens, more than the " + std::to_string(budget) +
                " the context leaves for it";
      return r;
    }
    out.erase(out.begin() + head, out.end() - (budget - head));
  }
  r.dropped = static_cast<int64_t>(full.size() - out.size());
  r.ids = std::move(out);
  r.kept = std::move(kept);
  return r;
}

Fitted engine_fit(const detail::PromptState& s, int64_t budget, bool truncate, std::vector<int64_t>* kept_starts = nullptr) {
  Fitted r;
  try {
    r.ids = s.fit(budget, truncate, r.dropped, &r.kept, kept_starts);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    r.error = e.what();
    r.dropped = -1;
    r.kept.clear();
  }
  return r;
}

bool same_messages(const std::vector<ChatMessage>& a, const std::vector<ChatMessage>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].role != b[i].role || a[i].content != b[i].content || a[i].tool_calls.size() != b[i].tool_calls.size()) return false;
    for (size_t j = 0; j < a[i].tool_calls.size(); ++j) {
      if (a[i].tool_calls[j].name != b[i].tool_calls[j].name || a[i].tool_calls[j].arguments != b[i].tool_calls[j].arguments) return false;
    }
  }
  return true;
}

// Random conversations: the shapes a chat takes (tool calls and runs of results, a second
// system message, turns that do not start with a user message) and contents that look like
// template text.
class Conversations {
 public:
  explicit Conversations(uint32_t seed) : rng_(seed) {}

  std::vector<ChatMessage> next(ChatOptions& options) {
    options = {};
    if (pick(3) == 0) {
      options.tools.push_back(R"({"type": "function", "function": {"name": "weather", "description": "Weather in a city.", )"
                              R"("parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}})");
      if (pick(2)) options.tools.push_back(R"({"type": "function", "function": {"name": "time", "parameters": {}}})");
    }
    std::vector<ChatMessage> chat;
    if (pick(2)) chat.push_back({"system", text(), {}});
    if (pick(3) == 0) return random_roles(chat);
    if (pick(6) == 0) chat.push_back({pick(2) ? "assistant" : "tool", text(), {}});  // no user message first
    for (int turns = 1 + pick(8); turns > 0; --turns) turn(chat, turns == 1);
    if (chat.empty()) chat.push_back({"user", text(), {}});
    return chat;
  }

 private:
  using ToolCallList = std::vector<tokenizer::ToolCall>;

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  std::string text() {
    static const char* const kWords[] = {"hello",        "world",  " ",        "\n",           "你好",      "世界",
                                         "<|im_start|>", "user\n", "<|im_end|>", "<tool_call>", "</tool_response>",
                                         "1234",         "🙂",     "assistant", "the",          "quick brown fox"};
    std::string s;
    for (int n = pick(10); n > 0; --n) s += kWords[pick(static_cast<int>(std::size(kWords)))];
    return s;
  }

  ToolCallList calls() {
    ToolCallList c;
    for (int n = 1 + pick(2); n > 0; --n) {
      c.push_back({pick(2) ? "weather" : "time", pick(3) ? R"({"city": ")" + std::to_string(pick(100)) + "\"}" : "not {json"});
    }
    return c;
  }

  // A user message and what answers it: text, or tool calls, their results and a reply.
  void turn(std::vector<ChatMessage>& chat, bool last) {
    chat.push_back({"user", text(), {}});
    if (pick(8) == 0) chat.push_back({"user", text(), {}});  // two in a row
    if (pick(10) == 0) chat.push_back({"system", text(), {}});
    if (last && pick(2)) return;  // ends with the user's message, as a request does
    if (pick(3) == 0) {
      chat.push_back({"assistant", pick(2) ? text() : "", calls()});
      for (int n = 1 + pick(3); n > 0; --n) chat.push_back({"tool", text(), {}});
      if (last && pick(3) == 0) return;  // ends inside a run of tool results
    }
    chat.push_back({"assistant", text(), {}});
  }

  std::vector<ChatMessage> random_roles(std::vector<ChatMessage> chat) {
    static const char* const kRoles[] = {"user", "user", "assistant", "tool", "system"};
    for (int n = 1 + pick(14); n > 0; --n) {
      const std::string role = kRoles[pick(5)];
      chat.push_back({role, text(), role == "assistant" && pick(3) == 0 ? calls() : ToolCallList{}});
    }
    return chat;
  }

  std::mt19937 rng_;
};

// Budgets around every size the reference passes through, around the point below which the
// last turn cannot be cut, and a few anywhere.
std::vector<int64_t> budgets(const std::vector<ChatMessage>& chat, const ChatOptions& options, int64_t full, std::mt19937& rng) {
  std::vector<int64_t> sizes = {full, 0};
  (void)reference_fit(chat, options, 0, false, &sizes);
  const auto system = static_cast<int64_t>(
      chat[0].role == "system" ? encode({chat[0]}, {.add_generation_prompt = false}).size() : 0);
  sizes.push_back(system + 16);
  std::vector<int64_t> out;
  for (const int64_t s : sizes) {
    for (int64_t d = -1; d <= 1; ++d) out.push_back(s + d);
  }
  for (int i = 0; i < 4; ++i) out.push_back(std::uniform_int_distribution<int64_t>(0, full)(rng));
  return out;
}

}  // namespace

TEST_CASE("Prompt fit: cutting at block starts equals re-rendering after each dropped turn", "[step][fit]") {
  Conversations conversations(20240611);
  std::mt19937 rng(7);
  int fits = 0, truncated = 0, failed = 0, shrunk = 0;
  for (int c = 0; c < 300; ++c) {
    ChatOptions options;
    const std::vector<ChatMessage> chat = conversations.next(options);
    const std::shared_ptr<detail::PromptState> state = detail::PromptState::make_chat(
        detail::ModelAccess::shared(tiny()), chat, ChatOptions{.add_generation_prompt = true, .tools = options.tools});
    options.add_generation_prompt = true;
    REQUIRE(state->ids == encode(chat, options));
    REQUIRE(state->starts.size() == chat.size());
    const auto full = static_cast<int64_t>(state->ids.size());
    for (const int64_t budget : budgets(chat, options, full, rng)) {
      for (const bool truncate : {false, true}) {
        INFO("conversation " << c << ", " << chat.size() << " messages, " << options.tools.size() << " tools, " << full
                             << " tokens, budget " << budget << (truncate ? ", truncate" : ""));
        const Fitted want = reference_fit(chat, options, budget, truncate);
        std::vector<int64_t> kept_starts;
        const Fitted got = engine_fit(*state, budget, truncate, &kept_starts);
        REQUIRE(got.error == want.error);
        REQUIRE(got.ids == want.ids);
        REQUIRE(got.dropped == want.dropped);
        REQUIRE(same_messages(got.kept, want.kept));
        ++fits;
        if (!want.error.empty()) {
          ++failed;
          continue;
        }
        if (static_cast<int64_t>(encode(want.kept, options).size()) != static_cast<int64_t>(want.ids.size())) {
          ++truncated;
          continue;
        }
        if (want.dropped > 0) ++shrunk;
        // What a fitted prompt holds is what making it from the kept messages gives.
        const auto again = detail::PromptState::make_chat(detail::ModelAccess::shared(tiny()), got.kept, options);
        REQUIRE(again->ids == got.ids);
        REQUIRE(kept_starts == again->starts);
      }
    }
  }
  // Every branch was taken, many times.
  CHECK(shrunk > 2000);
  CHECK(truncated > 300);
  CHECK(failed > 1000);
  CHECK(fits > 10000);
}

TEST_CASE("Prompt fit: block starts point at the <|im_start|> of each block", "[step][fit]") {
  const std::vector<ChatMessage> chat = {{"system", "S <|im_start|>user\nx<|im_end|>", {}},
                                         {"user", "<|im_start|>", {}},
                                         {"assistant", "", {{"weather", R"({"city": "Paris"})"}}},
                                         {"tool", "sunny", {}},
                                         {"tool", "<|im_start|>", {}},
                                         {"assistant", "Sunny.", {}},
                                         {"user", "Thanks", {}}};
  const auto state = detail::PromptState::make_chat(detail::ModelAccess::shared(tiny()), chat, {});
  const int32_t im_start = tok().token_id("<|im_start|>");
  REQUIRE(state->starts.size() == chat.size());
  CHECK(state->starts[0] == 0);
  CHECK(state->starts[4] == -1);  // continues the run of tool results
  int64_t previous = 0;
  for (size_t i = 1; i < chat.size(); ++i) {
    if (i == 4) continue;
    REQUIRE(state->starts[i] > previous);
    CHECK(state->ids[static_cast<size_t>(state->starts[i])] == im_start);
    previous = state->starts[i];
  }
  // The literal text of the system and user messages is not the special token.
  CHECK(std::count(state->ids.begin(), state->ids.end(), im_start) == 7);
  // Through the public API: a fitted prompt made from the kept turns shrinks like the whole.
  std::vector<Message> pub;
  for (const ChatMessage& m : chat) {
    Message p{m.role, m.content, {}};
    for (const tokenizer::ToolCall& t : m.tool_calls) p.tool_calls.push_back({t.name, t.arguments});
    pub.push_back(std::move(p));
  }
  const Prompt whole = Prompt::chat(tiny(), pub);
  int64_t dropped = 0, dropped_again = 0, dropped_direct = 0;
  const auto n = static_cast<int64_t>(whole.ids().size());
  const Prompt fitted = whole.fitted(n - 1, dropped);
  CHECK(dropped > 0);
  CHECK(fitted.fit(n / 2, true, dropped_again) == whole.fit(n / 2, true, dropped_direct));
  CHECK(dropped + dropped_again == dropped_direct);
}
