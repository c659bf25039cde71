// The generation of one answer as a state machine over a Sequence, driven one step at a time by
// its owner: a Session (one sequence, one step after another) or a batch loop (many sequences,
// one Engine::step for all of them).
//
//   qwenedge::Generation g(seq, qwenedge::Prompt::chat(model, messages), options);
//   while (!g.done()) {
//     engine.step({g.input()});        // possibly beside other generations' inputs
//     std::string text = g.advance();  // sample, stop strings, whole UTF-8 characters
//     if (!deliver(text)) g.cancel();
//   }
//   qwenedge::Result r = g.take_result();
//
// Everything that decides what the answer is lives here: sampling parameters over the model's
// defaults, penalties, end-of-turn ids, stop strings (their text is never emitted), whole UTF-8
// characters only, max_tokens, cancellation, timings, the longest common prefix with what the
// sequence already holds, and fitting an overlong prompt into the context (before the answer
// and when the answer fills the context).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "qwenedge/model.hpp"
#include "qwenedge/step.hpp"

namespace qwenedge {

struct GenerateOptions {
  int max_tokens = 512;
  // Sampling. Unset values take the model's generation defaults (Qwen2.5-Instruct: temperature
  // 0.7, top_p 0.8, top_k 20, repetition_penalty 1.1). temperature 0 = greedy.
  std::optional<float> temperature;
  std::optional<float> top_p;              // (0, 1]
  std::optional<int> top_k;                // 0 = off
  std::optional<float> min_p;              // [0, 1); 0 = off
  std::optional<float> repetition_penalty; // > 0; 1 = off; over the prompt and the answer
  float presence_penalty = 0.0f;           // [-2, 2], OpenAI style, over the answer
  float frequency_penalty = 0.0f;          // [-2, 2], OpenAI style, over the answer
  int repeat_last_n = 64;                  // window of the repetition penalty; -1 = everything
  std::optional<uint64_t> seed;            // unset: a fresh random seed per call
  std::vector<std::string> stop;           // stop strings: generation ends before their text
  std::vector<std::string> tools;          // chat(): JSON texts of tool definitions for the template
  bool ignore_eos = false;                 // keep going past end-of-turn tokens (benchmarks)
};

enum class FinishReason { kStop, kLength, kCancelled };
const char* finish_reason_name(FinishReason r) noexcept;  // "stop", "length", "cancelled"

struct Timings {
  int64_t prompt_tokens = 0;     // tokens of the full rendered prompt
  int64_t cached_tokens = 0;     // of those, reused from the session's KV cache
  int64_t prefilled_tokens = 0;  // of those, computed in this call
  int64_t generated_tokens = 0;
  double ttft_ms = 0;            // call start -> first token sampled
  double prefill_ms = 0;
  double decode_ms = 0;          // first token -> last token
  double prefill_tokens_per_s() const { return prefill_ms > 0 ? 1e3 * static_cast<double>(prefilled_tokens) / prefill_ms : 0; }
  double decode_tokens_per_s() const {
    return decode_ms > 0 && generated_tokens > 1 ? 1e3 * static_cast<double>(generated_tokens - 1) / decode_ms : 0;
  }
};

struct Result {
  std::string text;             // the answer, without the stop string or end-of-turn token
  std::vector<int32_t> tokens;  // the answer's token ids
  FinishReason finish = FinishReason::kStop;
  int64_t dropped_tokens = 0;   // history dropped to fit the context (oldest turns first)
  Timings timings;
};

// Receives text as it is generated, in whole UTF-8 characters; return false to stop.
using StreamCallback = std::function<bool(std::string_view text)>;

namespace detail {
struct PromptState;
class GenerationState;
}

// A prompt that knows how to shrink: a chat keeps its system prompt and last turn and drops
// whole turns oldest first; plain text or tokens drop their oldest tokens. It is rendered and
// tokenized once, when made; copies share that work. Immutable, usable from any thread.
class Prompt {
 public:
  // The chat template's rendering of `messages` ending with the assistant's turn; tools are JSON
  // texts of tool definitions. Throws Error(kInvalidArgument) for no messages or an unknown role.
  static Prompt chat(const Model& model, const std::vector<Message>& messages, const std::vector<std::string>& tools = {});
  // Plain text, special-token text (<|im_start|>, ...) parsed as special tokens. Throws
  // Error(kInvalidArgument) when it encodes to no tokens.
  static Prompt text(const Model& model, std::string_view text);
  // Token ids as they are (checked against the vocabulary when a step runs them).
  static Prompt tokens(std::vector<int32_t> ids);

  std::span<const int32_t> ids() const;  // the whole prompt
  // The prompt in at most `budget` tokens; `dropped` receives how many were left out. With
  // `truncate`, a chat whose last turn alone is too long loses that turn's oldest tokens instead
  // of failing. Throws Error(kInvalidArgument) when it cannot fit.
  std::vector<int32_t> fit(int64_t budget, bool truncate, int64_t& dropped) const;
  // The prompt shrunk as fit() does (without truncating), as a Prompt that can shrink further
  // the same way: fit once where it is cheap to wait (a request's own thread), generate later.
  Prompt fitted(int64_t budget, int64_t& dropped) const;

 private:
  explicit Prompt(std::shared_ptr<const detail::PromptState> s) : s_(std::move(s)) {}
  std::shared_ptr<const detail::PromptState> s_;
};

// Tokens a prompt may take in a context of `context` positions when the answer may be
// `max_tokens` long: what max_tokens leaves, but at least 3/4 of the context, so a long answer
// on a full context still has room before the first shift.
int64_t prompt_budget(int64_t context, int max_tokens);

// Throws Error(kInvalidArgument) naming the first option out of range for `model` (what a
// Generation would throw), so a server can refuse a request before it queues it.
void validate_options(const Model& model, const GenerateOptions& options);

class Generation {
 public:
  // Validates the options, fits the prompt into the sequence's context, keeps the longest common
  // prefix of what the sequence holds and prepares the rest as the first feed. The sequence must
  // outlive the generation and take part in no other step meanwhile.
  Generation(Sequence& sequence, const Prompt& prompt, const GenerateOptions& options);
  ~Generation();
  Generation(Generation&&) noexcept;
  Generation& operator=(Generation&&) noexcept;

  // Tokens still to be appended before the next token can be sampled (the rest of the prompt,
  // or the last sampled token). Empty once done().
  std::span<const int32_t> feed() const;
  // This generation's part of the next step: up to `max_tokens` of feed(), asking for logits
  // only when they end the feed (a long prompt can so be prefilled in chunks beside other
  // sequences' decode tokens). Valid until the next call on this object.
  StepInput input(int64_t max_tokens = std::numeric_limits<int64_t>::max());

  // After the step that ran input(): when that ended the feed, samples the next token and returns
  // the text that became final (possibly empty; when this finishes the answer, the held-back tail
  // is included); after a mere prompt chunk, returns "" and only moves the feed on.
  std::string advance();
  // Ends the answer now with FinishReason::kCancelled.
  void cancel();

  bool done() const;
  // The feed is a prompt (the first, or the history re-fitted when the answer filled the
  // context) rather than one sampled token: a scheduler may give it to several steps.
  bool prefilling() const;
  const Result& result() const;
  Result take_result();
  Sequence& sequence();

 private:
  std::unique_ptr<detail::GenerationState> g_;
};

}  // namespace qwenedge
