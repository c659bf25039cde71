// qwenedge::Session — one conversation: its KV cache, its token history, generation.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qwenedge/model.hpp"

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

struct SessionOptions {
  int64_t context = 0;  // KV-cache positions; 0 = the model's LoadOptions::context
  int threads = 0;      // 0 = the model's LoadOptions::threads
};

class Session {
 public:
  explicit Session(const Model& model, const SessionOptions& options = {});
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  // Renders the conversation with the chat template (ending with the assistant's turn), reuses
  // the longest prefix already in the KV cache, and generates the assistant's answer. When the
  // conversation does not fit, the oldest turns after the system prompt are dropped.
  // Throws qwenedge::Error(kInvalidArgument) for empty messages, an unknown role or a bad option.
  Result chat(const std::vector<Message>& messages, const GenerateOptions& options = {},
              const StreamCallback& on_text = {});

  // Plain completion of `prompt` (no template; special-token text is parsed as special tokens).
  Result complete(std::string_view prompt, const GenerateOptions& options = {},
                  const StreamCallback& on_text = {});

  // Forgets the conversation (the KV cache is kept allocated).
  void reset();

  int64_t context() const;         // capacity in tokens
  int64_t cached_tokens() const;   // tokens currently in the KV cache
  const Model& model() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace qwenedge
