// One answer's generation, step by step: see generation.hpp.
#include "engine/runtime/generation.hpp"

#include <algorithm>
#include <random>
#include <utility>

#include "qwenedge/error.hpp"
#include "tokenizer/chat_template.hpp"

namespace qwenedge {
namespace detail {
namespace {

double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

const char* const kRoles[] = {"system", "user", "assistant", "tool"};

// v[0, head) ++ v[tail, end).
template <class T>
std::vector<T> joined(const std::vector<T>& v, size_t head, size_t tail) {
  std::vector<T> out;
  out.reserve(head + v.size() - tail);
  out.insert(out.end(), v.begin(), v.begin() + static_cast<std::ptrdiff_t>(head));
  out.insert(out.end(), v.begin() + static_cast<std::ptrdiff_t>(tail), v.end());
  return out;
}

}  // namespace

}  // namespace detail

int64_t prompt_budget(int64_t context, int max_tokens) {
  return context - std::clamp<int64_t>(max_tokens, 1, std::max<int64_t>(1, context / 4));
}

namespace detail {

SamplingParams sampling_params(const ModelImpl& m, const GenerateOptions& o) {
  // First the options that the sampler does not know about.
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
  validate(sp);
  return sp;
}


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

std::shared_ptr<PromptState> PromptState::make_chat(std::shared_ptr<const ModelImpl> model, std::vector<tokenizer::ChatMessage> chat,
                                                    tokenizer::ChatOptions options) {
  auto s = std::make_shared<PromptState>();
  s->model = std::move(model);
  s->chat = std::move(chat);
  s->options = std::move(options);
  const tokenizer::ChatPrompt rendered = tokenizer::render_chat(s->chat, s->options);
  std::vector<size_t> special_at;
  s->ids = tokenizer::encode_chat(s->model->tokenizer, rendered, &special_at);
  s->starts.reserve(rendered.blocks.size());
  for (const size_t b : rendered.blocks) {
    s->starts.push_back(b == tokenizer::ChatPrompt::kNoBlock ? -1 : static_cast<int64_t>(special_at[b]));
  }
  return s;
}

std::vector<int32_t> PromptState::fit(int64_t budget, bool truncate, int64_t& dropped,
                                      std::vector<tokenizer::ChatMessage>* kept_chat, std::vector<int64_t>* kept_starts) const {
  const auto full = static_cast<int64_t>(ids.size());
  if (full <= budget) {
    dropped = 0;
    if (kept_chat) *kept_chat = chat;
    if (kept_starts) *kept_starts = starts;
    return ids;
  }
  std::vector<int32_t> kept;
  if (model) {
    const size_t first = !chat.empty() && chat[0].role == "system" ? 1 : 0;
    const size_t from = first_kept(budget, first);
    kept = cut(budget, truncate, first, from);
    if (kept_chat) *kept_chat = joined(chat, first, from);
    if (kept_starts) {
      *kept_starts = joined(starts, first, from);
      // The kept blocks moved back by what was dropped.
      const int64_t shift = from == first ? 0 : starts[from] - starts[first];
      for (size_t i = first; i < kept_starts->size(); ++i) {
        if ((*kept_starts)[i] >= 0) (*kept_starts)[i] -= shift;
      }
    }
  } else {
    // Plain text has no turns: keep its most recent tokens.
    kept.assign(ids.end() - std::max<int64_t>(1, budget), ids.end());
  }
  dropped = full - static_cast<int64_t>(kept.size());
  return kept;
}

size_t PromptState::first_kept(int64_t budget, size_t first) const {
  // Turns go oldest first, each up to the next user message; the kept tokens shrink with each.
  const auto full = static_cast<int64_t>(ids.size());
  size_t from = first;
  for (size_t k = first + 1; k < chat.size(); ++k) {
    if (chat[k].role != "user") continue;
    from = k;
    if (starts[first] + (full - starts[k]) <= budget) break;
  }
  return from;
}

std::vector<int32_t> PromptState::cut(int64_t budget, bool truncate, size_t first, size_t from) const {
  std::vector<int32_t> out =
      from == first ? ids : joined(ids, static_cast<size_t>(starts[first]), static_cast<size_t>(starts[from]));
  if (static_cast<int64_t>(out.size()) <= budget) return out;
  // Only the system prompt and the last turn are left: the middle of the last turn goes, and
  // the head (the system block with its tools, or the default one) stays whole.
  const int64_t head = first < starts.size() ? std::max<int64_t>(0, starts[first]) : 0;
  if (!truncate || budget - head < 16) {
    throw Error(ErrorCode::kInvalidArgument, "the last message needs " + std::to_string(out.size()) +
                                                 " tokens, more than the " + std::to_string(budget) +
                                                 " the context leaves for it");
  }
  out.erase(out.begin() + head, out.end() - (budget - head));
  return out;
}

std::string StopFilter::push(std::string_view text, bool& stopped) {
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

GenerationState::GenerationState(Sequence& seq, const Prompt& prompt, const GenerateOptions& options)
    : seq_(seq), seq_state_(SequenceState::of(seq)), m_(seq_state_.m), prompt_(prompt), max_tokens_(options.max_tokens),
      ignore_eos_(options.ignore_eos), context_(seq.capacity()), sampler_(sampling_params(m_, options)),
      decoder_(m_.tokenizer, /*skip_special=*/true), stops_(options.stop), t0_(Clock::now()) {
  const std::vector<int32_t> tokens = prompt_.fit(prompt_budget(context_, max_tokens_), false, r_.dropped_tokens);
  r_.timings.prompt_tokens = static_cast<int64_t>(tokens.size());
  t_prefill_ = Clock::now();
  prepare(tokens);
  r_.timings.cached_tokens = feed_base_;
  r_.timings.prefilled_tokens = r_.timings.prompt_tokens - r_.timings.cached_tokens;
}

void GenerationState::prepare(const std::vector<int32_t>& tokens) {
  auto lcp = static_cast<size_t>(seq_.common_prefix(tokens));
  if (lcp == tokens.size()) --lcp;  // the last token must run again for its logits
  seq_.truncate(static_cast<int64_t>(lcp));
  feed_base_ = static_cast<int64_t>(lcp);
  feed_.assign(tokens.begin() + static_cast<std::ptrdiff_t>(lcp), tokens.end());
  prompt_feed_ = true;
}

std::span<const int32_t> GenerationState::feed() const {
  if (done_) return {};
  const int64_t n = std::clamp<int64_t>(fed(), 0, static_cast<int64_t>(feed_.size()));
  return std::span<const int32_t>(feed_).subspan(static_cast<size_t>(n));
}

StepInput GenerationState::input(int64_t max_tokens) {
  const std::span<const int32_t> rest = feed();
  // Empty once done (no tokens, nothing to run); otherwise at least one token.
  const size_t n = std::min(static_cast<size_t>(std::max<int64_t>(max_tokens, 1)), rest.size());
  return {&seq_, rest.first(n), n == rest.size() ? Logits::kLast : Logits::kNone};
}

std::string GenerationState::advance() {
  if (done_) return {};
  if (!feed().empty()) return {};  // a prompt chunk went in; more of the prompt is to come
  const auto now = Clock::now();
  if (t_first_ == Clock::time_point{}) r_.timings.prefill_ms = ms_between(t_prefill_, now);

  const int32_t id = sampler_.sample(seq_state_.logits, seq_state_.history, r_.tokens);
  if (t_first_ == Clock::time_point{}) {
    t_first_ = Clock::now();
    r_.timings.ttft_ms = ms_between(t0_, t_first_);
  }
  std::string text;
  const std::vector<int32_t>& eos = m_.loaded.generation.eos_ids;
  if (!ignore_eos_ && std::find(eos.begin(), eos.end(), id) != eos.end()) {
    finish(FinishReason::kStop, text);
    return text;
  }
  r_.tokens.push_back(id);
  bool stopped = false;
  text = stops_.push(decoder_.push(id), stopped);
  r_.text += text;
  if (stopped) {
    done_ = true;  // the stop string and whatever follows it are dropped: no tail
    finish(FinishReason::kStop, text);
  } else if (static_cast<int>(r_.tokens.size()) >= max_tokens_) {
    finish(FinishReason::kLength, text);
  } else if (seq_.size() == seq_.capacity()) {
    shift_context();
  } else {
    feed_base_ = seq_.size();
    feed_.assign(1, id);
    prompt_feed_ = false;
  }
  return text;
}

void GenerationState::shift_context() {
  // Context full mid-answer: re-fit the history into half the context, keep at most a quarter
  // of the answer so far (its latest tokens) and continue; a quarter stays free.
  const auto in_cache = static_cast<int64_t>(r_.tokens.size()) - 1;  // the last token is not in yet
  const int64_t kept = std::min(in_cache, context_ / 4);
  int64_t dropped = 0;
  std::vector<int32_t> shifted = prompt_.fit(context_ - context_ / 4 - kept, true, dropped);
  shifted.insert(shifted.end(), r_.tokens.end() - 1 - kept, r_.tokens.end());
  r_.dropped_tokens += dropped + in_cache - kept;
  prepare(shifted);
}

void GenerationState::finish(FinishReason reason, std::string& text) {
  if (!done_) {
    // The held-back end of the text: an unfinished character, a partial stop string.
    bool stopped = false;
    std::string tail = stops_.push(decoder_.finish(), stopped);
    if (!stopped) tail += stops_.flush();
    r_.text += tail;
    text += tail;
  }
  done_ = true;
  r_.finish = reason;
  feed_.clear();
  r_.timings.generated_tokens = static_cast<int64_t>(r_.tokens.size());
  if (t_first_ != Clock::time_point{}) r_.timings.decode_ms = ms_between(t_first_, Clock::now());
}

void GenerationState::cancel() {
  done_ = true;
  std::string none;
  finish(FinishReason::kCancelled, none);
}

}  // namespace detail

// The public faces.

Prompt Prompt::chat(const Model& model, const std::vector<Message>& messages, const std::vector<std::string>& tools) {
  detail::check_messages(messages);
  std::vector<tokenizer::ChatMessage> chat;
  chat.reserve(messages.size());
  for (const Message& msg : messages) {
    tokenizer::ChatMessage c{msg.role, msg.content, {}};
    for (const ToolCall& t : msg.tool_calls) c.tool_calls.push_back({t.name, t.arguments});
    chat.push_back(std::move(c));
  }
  return Prompt(detail::PromptState::make_chat(detail::ModelAccess::shared(model), std::move(chat),
                                               tokenizer::ChatOptions{.add_generation_prompt = true, .tools = tools}));
}

Prompt Prompt::text(const Model& model, std::string_view text) {
  std::vector<int32_t> ids = detail::impl(model).tokenizer.encode(text, {.parse_special = true});
  if (ids.empty()) throw Error(ErrorCode::kInvalidArgument, "complete: the prompt is empty");
  return tokens(std::move(ids));
}

Prompt Prompt::tokens(std::vector<int32_t> ids) {
  if (ids.empty()) throw Error(ErrorCode::kInvalidArgument, "the prompt is empty");
  auto s = std::make_shared<detail::PromptState>();
  s->ids = std::move(ids);
  return Prompt(std::move(s));
}

std::span<const int32_t> Prompt::ids() const { return s_->ids; }
std::vector<int32_t> Prompt::fit(int64_t budget, bool truncate, int64_t& dropped) const { return s_->fit(budget, truncate, dropped); }

Prompt Prompt::fitted(int64_t budget, int64_t& dropped) const {
  auto s = std::make_shared<detail::PromptState>();
  s->model = s_->model;
  s->options = s_->options;
  s->ids = s_->fit(budget, false, dropped, s_->model ? &s->chat : nullptr, s_->model ? &s->starts : nullptr);
  return Prompt(std::move(s));
}

void validate_options(const Model& model, const GenerateOptions& options) { (void)detail::sampling_params(detail::impl(model), options); }

Generation::Generation(Sequence& sequence, const Prompt& prompt, const GenerateOptions& options)
    : g_(std::make_unique<detail::GenerationState>(sequence, prompt, options)) {}
Generation::~Generation() = default;
Generation::Generation(Generation&&) noexcept = default;
Generation& Generation::operator=(Generation&&) noexcept = default;

std::span<const int32_t> Generation::feed() const { return g_->feed(); }
StepInput Generation::input(int64_t max_tokens) { return g_->input(max_tokens); }
std::string Generation::advance() { return g_->advance(); }
void Generation::cancel() { g_->cancel(); }
bool Generation::done() const { return g_->done(); }
bool Generation::prefilling() const { return g_->prefilling(); }
const Result& Generation::result() const { return g_->result(); }
Result Generation::take_result() { return g_->take_result(); }
Sequence& Generation::sequence() { return g_->sequence(); }

}  // namespace qwenedge
