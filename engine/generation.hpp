// The generation of one answer as a state machine, driven one forward step at a time by its
// owner: a Session (one sequence, one step after another) or a batch scheduler (many sequences,
// one Forward::run for all of them per step).
//
//   Generation g(model, options, fit, seq);     // fits the prompt, reuses seq's KV prefix
//   while (!g.done()) {
//     forward.run({{&seq.cache, g.feed(), seq.logits.data()}});   // possibly batched with others
//     std::string text = g.advance();           // sample, stop strings, UTF-8 safe text
//     if (!deliver(text)) g.cancel();
//   }
//   Result r = g.take_result();
//
// Everything that decides what the answer is lives here: sampling parameters from the model's
// defaults, penalties, end-of-turn ids, stop strings (their text is never emitted), whole UTF-8
// characters only, max_tokens, cancellation, timings and fitting an overlong conversation into
// the context (before the answer and when the answer fills the context).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/kv_cache.hpp"
#include "engine/model_impl.hpp"
#include "engine/sampler.hpp"
#include "qwenedge/session.hpp"
#include "tokenizer/stream_decoder.hpp"

namespace qwenedge::detail {

// The memory of one sequence: its KV cache, the tokens in it and the logits of its last step.
struct SequenceState {
  SequenceState(const ModelImpl& m, int64_t context)
      : cache(m.loaded.config, context), logits(static_cast<size_t>(m.loaded.config.vocab_size)) {}

  KvCache cache;
  std::vector<int32_t> history;  // the tokens in the cache (and those of the step being run)
  std::vector<float> logits;     // [V] of the last token of the last step
};

// A prompt that fits in `budget` tokens, and how many tokens of history were dropped for it.
// With `truncate`, a prompt whose last turn alone is too long loses that turn's oldest tokens
// instead of failing (used when an answer outgrows the context mid-generation).
using FitPrompt = std::function<std::vector<int32_t>(int64_t budget, bool truncate, int64_t& dropped)>;

// Tokens the prompt may take in a context of `context` when the answer may be `max_tokens` long:
// what max_tokens leaves, but at least 3/4 of the context, so a long answer on a full context
// still has room before the first shift.
int64_t prompt_budget(int64_t context, int max_tokens);

// The sampler's parameters: the options over the model's generation defaults. Throws
// Error(kInvalidArgument) naming the first option out of range.
SamplingParams sampling_params(const ModelImpl& m, const GenerateOptions& options);

// Throws Error(kInvalidArgument) for empty messages or an unknown role.
void check_messages(const std::vector<Message>& messages);

// Chat: renders the template; drops whole turns after the system prompt (a user message and
// what answers it) until the prompt fits; the last user turn is never dropped. Owns copies of
// its inputs. `context` only names the limit in errors.
FitPrompt chat_prompt(const ModelImpl& m, const std::vector<Message>& messages, const std::vector<std::string>& tools,
                      int64_t context);

// Plain completion (special-token text parsed as special tokens): keeps the most recent tokens.
// Throws Error(kInvalidArgument) for an empty prompt.
FitPrompt completion_prompt(const ModelImpl& m, std::string_view prompt);

// Holds back the end of the text that could still become a stop string, and finds stop strings.
class StopFilter {
 public:
  explicit StopFilter(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  // Adds text; returns what can be shown now. Sets stopped when a stop string completed (its
  // text and everything after it are dropped).
  std::string push(std::string_view text, bool& stopped);
  std::string flush() { return std::exchange(pending_, {}); }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
};

class Generation {
 public:
  // Validates the options (Error kInvalidArgument), fits the prompt into `seq`'s context,
  // keeps the longest common prefix of seq.history and prepares the rest as the first feed.
  // `seq` must outlive the generation and be used by nothing else meanwhile.
  Generation(const ModelImpl& m, const GenerateOptions& options, const FitPrompt& fit, SequenceState& seq);

  // Tokens the next forward step must append to seq.cache (their last token's logits go to
  // seq.logits). Empty once done().
  std::span<const int32_t> feed() const { return feed_; }

  // After the step for feed() ran: picks the next token and returns the text that became final
  // (possibly empty). When this finishes the answer, the held-back tail is included.
  std::string advance();

  // The step for feed() failed: the cache forgets the tokens it may have half taken.
  void rollback();

  // Ends the answer now with FinishReason::kCancelled.
  void cancel();

  bool done() const { return done_; }
  const Result& result() const { return r_; }
  Result take_result() { return std::move(r_); }

 private:
  using Clock = std::chrono::steady_clock;
  void prepare(const std::vector<int32_t>& tokens);  // makes seq hold `tokens`, sets feed_
  void finish(FinishReason reason, std::string& text);
  void shift_context();

  const ModelImpl& m_;
  SequenceState& seq_;
  FitPrompt fit_;
  int max_tokens_;
  bool ignore_eos_;
  int64_t context_;
  Sampler sampler_;
  tokenizer::StreamDecoder decoder_;
  StopFilter stops_;
  Result r_;
  std::vector<int32_t> feed_;
  size_t committed_ = 0;  // history length known to be in the cache
  bool done_ = false;
  Clock::time_point t0_, t_prefill_, t_first_{};
};

}  // namespace qwenedge::detail
