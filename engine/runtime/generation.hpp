// The inside of qwenedge::Prompt and qwenedge::Generation (qwenedge/generation.hpp): sampling
// parameters, prompt fitting, stop strings, and the state machine of one answer.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/runtime/model_impl.hpp"
#include "engine/runtime/sampler.hpp"
#include "engine/runtime/sequence_state.hpp"
#include "qwenedge/generation.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/stream_decoder.hpp"

namespace qwenedge::detail {

// The sampler's parameters: the options over the model's generation defaults. Throws
// Error(kInvalidArgument) naming the first option out of range.
SamplingParams sampling_params(const ModelImpl& m, const GenerateOptions& options);

// Throws Error(kInvalidArgument) for empty messages or an unknown role.
void check_messages(const std::vector<Message>& messages);

// A prompt's tokens, rendered and tokenized once, and what it needs to shrink.
struct PromptState {
  std::vector<int32_t> ids;  // the whole prompt
  // Chats only: the conversation, to drop whole turns after the system prompt (a user message
  // and what answers it) until it fits; the last user turn is never dropped.
  std::shared_ptr<const ModelImpl> model;
  std::vector<tokenizer::ChatMessage> chat;
  tokenizer::ChatOptions options;
  // For each message of `chat`, the index in `ids` of the <|im_start|> that begins its block, -1
  // for a tool result continuing a run. Dropping chat[first, k) before a user message k leaves
  // ids[0, starts[first]) ++ ids[starts[k], end): what rendering the rest would give, without
  // rendering it (see tokenizer::ChatPrompt::blocks), so fitting is linear in the prompt.
  std::vector<int64_t> starts;

  // A chat's state: `chat` rendered with `options` and tokenized.
  static std::shared_ptr<PromptState> make_chat(std::shared_ptr<const ModelImpl> model, std::vector<tokenizer::ChatMessage> chat,
                                                tokenizer::ChatOptions options);

  // The kept tokens; `kept_chat` (when not null) receives the messages they render and
  // `kept_starts` their block starts (both as a fitted prompt's state needs them; after a cut
  // into the last turn, the messages are whole and the starts are of the uncut tokens).
  std::vector<int32_t> fit(int64_t budget, bool truncate, int64_t& dropped,
                           std::vector<tokenizer::ChatMessage>* kept_chat = nullptr,
                           std::vector<int64_t>* kept_starts = nullptr) const;

 private:
  // The first message kept after the system prompt: the earliest user message (after
  // chat[first]) whose cut fits, else the last one; `first` when nothing can be dropped.
  size_t first_kept(int64_t budget, size_t first) const;
  // The tokens with chat[first, from) dropped, and cut into the last turn when they still do not fit.
  std::vector<int32_t> cut(int64_t budget, bool truncate, size_t first, size_t from) const;
};

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

class GenerationState {
 public:
  GenerationState(Sequence& seq, const Prompt& prompt, const GenerateOptions& options);

  std::span<const int32_t> feed() const;  // what is still to be appended
  StepInput input(int64_t max_tokens);
  std::string advance();
  void cancel();

  bool done() const { return done_; }
  bool prefilling() const { return !done_ && prompt_feed_; }
  const Result& result() const { return r_; }
  Result take_result() { return std::move(r_); }
  Sequence& sequence() { return seq_; }

 private:
  using Clock = std::chrono::steady_clock;
  int64_t fed() const { return seq_state_.cache.size() - feed_base_; }  // feed tokens now in the cache
  void prepare(const std::vector<int32_t>& tokens);  // keeps the common prefix, feeds the rest
  void finish(FinishReason reason, std::string& text);
  void shift_context();

  Sequence& seq_;
  SequenceState& seq_state_;
  const ModelImpl& m_;
  Prompt prompt_;
  int max_tokens_;
  bool ignore_eos_;
  int64_t context_;
  Sampler sampler_;
  tokenizer::StreamDecoder decoder_;
  StopFilter stops_;
  Result r_;
  std::vector<int32_t> feed_;  // the tokens of the current feed
  int64_t feed_base_ = 0;      // cache size when the feed began
  bool prompt_feed_ = false;   // the feed is a prompt (or the history re-fitted), not one sampled token
  bool done_ = false;
  Clock::time_point t0_, t_prefill_, t_first_{};
};

}  // namespace qwenedge::detail
