// A conversation: prompt rendering, KV-prefix reuse, context overflow, the generation loop.
#include <algorithm>
#include <chrono>
#include <random>
#include <utility>

#include "engine/forward.hpp"
#include "engine/model_impl.hpp"
#include "engine/sampler.hpp"
#include "qwenedge/error.hpp"
#include "qwenedge/session.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/stream_decoder.hpp"

namespace qwenedge {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// A prompt that fits in `budget` tokens, and how many tokens of history were dropped for it.
// With `truncate`, a prompt whose last turn alone is too long loses that turn's oldest tokens
// instead of failing (used when an answer outgrows the context mid-generation).
using FitPrompt = std::function<std::vector<int32_t>(int64_t budget, bool truncate, int64_t& dropped)>;

// Holds back the end of the text that could still become a stop string, and finds stop strings.
class StopFilter {
 public:
  explicit StopFilter(const std::vector<std::string>& stops) : stops_(stops) {}

  // Adds text; returns what can be shown now. Sets stopped when a stop string completed (its
  // text and everything after it are dropped).
  std::string push(std::string_view text, bool& stopped) {
    pending_ += text;
    size_t cut = std::string::npos;
    for (const std::string& s : stops_) cut = std::min(cut, pending_.find(s));
    if (cut != std::string::npos) {
      stopped = true;
      std::string out = pending_.substr(0, cut);
      pending_.clear();
      return out;
    }
    // Keep the longest suffix that is a prefix of some stop string.
    size_t hold = 0;
    for (const std::string& s : stops_) {
      for (size_t n = std::min(s.size() - 1, pending_.size()); n > hold; --n) {
        if (pending_.compare(pending_.size() - n, n, s, 0, n) == 0) {
          hold = n;
          break;
        }
      }
    }
    std::string out = pending_.substr(0, pending_.size() - hold);
    pending_.erase(0, pending_.size() - hold);
    return out;
  }

  std::string flush() { return std::exchange(pending_, {}); }

 private:
  const std::vector<std::string>& stops_;
  std::string pending_;
};

const char* const kRoles[] = {"system", "user", "assistant", "tool"};

void check_messages(const std::vector<Message>& messages) {
  if (messages.empty()) throw Error(ErrorCode::kInvalidArgument, "chat: messages is empty");
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& r = messages[i].role;
    if (std::find(std::begin(kRoles), std::end(kRoles), r) == std::end(kRoles)) {
      throw Error(ErrorCode::kInvalidArgument, "chat: messages[" + std::to_string(i) + "] has unknown role \"" + r +
                                                   "\" (expected system, user, assistant or tool)");
    }
  }
}

}  // namespace

const char* finish_reason_name(FinishReason r) noexcept {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "?";
}

struct Session::State {
  Model model;
  int64_t context;
  int threads;
  const detail::ModelImpl& m;
  Forward forward;
  KvCache cache;
  std::vector<int32_t> history;  // the tokens in the cache, in order
  std::vector<float> logits;     // [V] after the last step

  State(const Model& mdl, int64_t ctx, int thr)
      : model(mdl), context(ctx), threads(thr), m(mdl.impl()), forward(m.loaded, 512), cache(m.loaded.config, ctx),
        logits(static_cast<size_t>(m.loaded.config.vocab_size)) {}

  // Makes the cache hold `prompt`: keeps the longest common prefix, prefills the rest and
  // leaves the last token's logits. Returns the tokens reused.
  int64_t prefill(const std::vector<int32_t>& prompt) {
    size_t lcp = 0;
    while (lcp < prompt.size() && lcp < history.size() && prompt[lcp] == history[lcp]) ++lcp;
    if (lcp == prompt.size()) --lcp;  // the last token must run again for its logits
    cache.resize(static_cast<int64_t>(lcp));
    history.assign(prompt.begin(), prompt.end());
    const SequenceStep step{&cache, std::span<const int32_t>(prompt.data() + lcp, prompt.size() - lcp), logits.data(), false};
    try {
      forward.run(std::span<const SequenceStep>(&step, 1), threads);
    } catch (...) {
      cache.resize(static_cast<int64_t>(lcp));
      history.resize(lcp);
      throw;
    }
    return static_cast<int64_t>(lcp);
  }

  void step(int32_t id) {
    const SequenceStep s{&cache, std::span<const int32_t>(&id, 1), logits.data(), false};
    forward.run(std::span<const SequenceStep>(&s, 1), threads);
    history.push_back(id);
  }

  Result generate(const FitPrompt& fit, const GenerateOptions& o, const StreamCallback& on_text);
};

Result Session::State::generate(const FitPrompt& fit, const GenerateOptions& o, const StreamCallback& on_text) {
  const auto t0 = Clock::now();
  if (o.max_tokens < 1) throw Error(ErrorCode::kInvalidArgument, "max_tokens = " + std::to_string(o.max_tokens) + " (expected >= 1)");
  for (const std::string& s : o.stop) {
    if (s.empty()) throw Error(ErrorCode::kInvalidArgument, "stop strings must not be empty");
  }
  const GenerationDefaults& g = m.loaded.generation;
  SamplingParams sp;
  sp.temperature = o.temperature.value_or(g.temperature);
  sp.top_p = o.top_p.value_or(g.top_p);
  sp.top_k = o.top_k.value_or(g.top_k);
  sp.min_p = o.min_p.value_or(0.0f);
  sp.repetition_penalty = o.repetition_penalty.value_or(g.repetition_penalty);
  sp.presence_penalty = o.presence_penalty;
  sp.frequency_penalty = o.frequency_penalty;
  sp.repeat_last_n = o.repeat_last_n;
  sp.seed = o.seed ? *o.seed : std::random_device{}() * 0x100000001ull + std::random_device{}();
  Sampler sampler(sp);

  // Room for the answer: the prompt may take what max_tokens leaves, but never more than 3/4 of
  // the context, so a long answer on a full context still has space before the first shift.
  const int64_t reserve = std::clamp<int64_t>(o.max_tokens, 1, std::max<int64_t>(1, context / 4));
  Result r;
  std::vector<int32_t> prompt = fit(context - reserve, false, r.dropped_tokens);
  r.timings.prompt_tokens = static_cast<int64_t>(prompt.size());
  const auto t_prefill = Clock::now();
  r.timings.cached_tokens = prefill(prompt);
  r.timings.prefill_ms = ms_since(t_prefill);
  r.timings.prefilled_tokens = r.timings.prompt_tokens - r.timings.cached_tokens;

  const std::vector<int32_t>& eos = m.loaded.generation.eos_ids;
  tokenizer::StreamDecoder decoder(m.tokenizer, /*skip_special=*/true);
  StopFilter stops(o.stop);
  Clock::time_point t_first{};
  auto emit = [&](const std::string& text) {
    if (text.empty()) return true;
    r.text += text;
    return !on_text || on_text(text);
  };

  for (int i = 0;; ++i) {
    const int32_t id = sampler.sample(logits, history, r.tokens);
    if (i == 0) {
      t_first = Clock::now();
      r.timings.ttft_ms = ms_since(t0);
    }
    if (!o.ignore_eos && std::find(eos.begin(), eos.end(), id) != eos.end()) {
      r.finish = FinishReason::kStop;
      break;
    }
    r.tokens.push_back(id);
    bool stopped = false;
    const std::string text = stops.push(decoder.push(id), stopped);
    if (!emit(text)) {
      r.finish = FinishReason::kCancelled;
      break;
    }
    if (stopped) {
      r.finish = FinishReason::kStop;
      break;
    }
    if (static_cast<int>(r.tokens.size()) >= o.max_tokens) {
      r.finish = FinishReason::kLength;
      break;
    }
    if (cache.size() == cache.capacity()) {
      // Context full mid-answer: re-fit the history into half the context, keep at most a
      // quarter of the answer so far (its latest tokens) and continue; a quarter stays free.
      const auto in_cache = static_cast<int64_t>(r.tokens.size()) - 1;  // `id` is not in yet
      const int64_t kept = std::min(in_cache, context / 4);
      int64_t dropped = 0;
      std::vector<int32_t> shifted = fit(context - context / 4 - kept, true, dropped);
      shifted.insert(shifted.end(), r.tokens.end() - 1 - kept, r.tokens.end() - 1);
      r.dropped_tokens += dropped + in_cache - kept;
      prefill(shifted);
    }
    step(id);
  }
  if (r.finish != FinishReason::kCancelled) {
    bool stopped = false;
    std::string tail = stops.push(decoder.finish(), stopped);
    if (!stopped) tail += stops.flush();
    emit(tail);
  }
  r.timings.generated_tokens = static_cast<int64_t>(r.tokens.size());
  if (t_first != Clock::time_point{}) r.timings.decode_ms = ms_since(t_first);
  return r;
}

Session::Session(const Model& model, const SessionOptions& options) {
  const int64_t context = options.context > 0 ? options.context : model.options().context;
  if (options.context < 0 || context > model.info().context_length) {
    throw Error(ErrorCode::kInvalidArgument, "session context " + std::to_string(context) + " is outside 1.." +
                                                 std::to_string(model.info().context_length) + " (the model's limit)");
  }
  if (options.threads < 0) throw Error(ErrorCode::kInvalidArgument, "threads = " + std::to_string(options.threads));
  const int threads = options.threads > 0 ? options.threads : model.options().threads;
  s_ = std::make_unique<State>(model, context, threads);
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

Result Session::chat(const std::vector<Message>& messages, const GenerateOptions& options, const StreamCallback& on_text) {
  check_messages(messages);
  const tokenizer::ChatOptions chat_options{.add_generation_prompt = true, .tools = options.tools};
  std::vector<tokenizer::ChatMessage> chat;
  for (const Message& m : messages) {
    tokenizer::ChatMessage c{m.role, m.content, {}};
    for (const ToolCall& t : m.tool_calls) c.tool_calls.push_back({t.name, t.arguments});
    chat.push_back(std::move(c));
  }
  const tokenizer::Tokenizer& tok = s_->m.tokenizer;
  // Drops whole turns after the system prompt (a user message and what answers it) until the
  // prompt fits; the last user turn is never dropped.
  FitPrompt fit = [&](int64_t budget, bool truncate, int64_t& dropped) {
    std::vector<tokenizer::ChatMessage> kept = chat;
    std::vector<int32_t> ids = tokenizer::encode_chat(tok, tokenizer::render_chat(kept, chat_options));
    const size_t first = !kept.empty() && kept[0].role == "system" ? 1 : 0;
    const auto full = static_cast<int64_t>(ids.size());
    while (static_cast<int64_t>(ids.size()) > budget) {
      size_t next_user = first + 1;
      while (next_user < kept.size() && kept[next_user].role != "user") ++next_user;
      if (next_user < kept.size()) {
        kept.erase(kept.begin() + static_cast<std::ptrdiff_t>(first), kept.begin() + static_cast<std::ptrdiff_t>(next_user));
        ids = tokenizer::encode_chat(tok, tokenizer::render_chat(kept, chat_options));
        continue;
      }
      // Only the system prompt and the last turn are left.
      const auto head = static_cast<int64_t>(
          first ? tokenizer::encode_chat(tok, tokenizer::render_chat(std::span(kept.data(), 1), {.add_generation_prompt = false})).size() : 0);
      if (!truncate || budget - head < 16) {
        throw Error(ErrorCode::kInvalidArgument, "the last message needs " + std::to_string(ids.size()) +
                                                     " tokens, more than the " + std::to_string(budget) +
                                                     " the context of " + std::to_string(s_->context) + " leaves for it");
      }
      ids.erase(ids.begin() + head, ids.end() - (budget - head));
    }
    dropped = full - static_cast<int64_t>(ids.size());
    return ids;
  };
  return s_->generate(fit, options, on_text);
}

Result Session::complete(std::string_view prompt, const GenerateOptions& options, const StreamCallback& on_text) {
  const std::vector<int32_t> ids = s_->m.tokenizer.encode(prompt, {.parse_special = true});
  if (ids.empty()) throw Error(ErrorCode::kInvalidArgument, "complete: the prompt is empty");
  // Plain text has no turns: keep its most recent tokens.
  FitPrompt fit = [&](int64_t budget, bool, int64_t& dropped) {
    const auto n = static_cast<int64_t>(ids.size());
    dropped = std::max<int64_t>(0, n - std::max<int64_t>(1, budget));
    return std::vector<int32_t>(ids.begin() + dropped, ids.end());
  };
  return s_->generate(fit, options, on_text);
}

void Session::reset() {
  s_->cache.resize(0);
  s_->history.clear();
}

int64_t Session::context() const { return s_->context; }
int64_t Session::cached_tokens() const { return s_->cache.size(); }
const Model& Session::model() const { return s_->model; }

}  // namespace qwenedge
