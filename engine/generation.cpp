// One answer's generation, step by step: see generation.hpp.
#include "engine/generation.hpp"

#include <algorithm>
#include <random>
#include <utility>

#include "qwenedge/error.hpp"
#include "tokenizer/chat_template.hpp"

namespace qwenedge::detail {
namespace {

double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

const char* const kRoles[] = {"system", "user", "assistant", "tool"};

}  // namespace

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

int64_t prompt_budget(int64_t context, int max_tokens) {
  return context - std::clamp<int64_t>(max_tokens, 1, std::max<int64_t>(1, context / 4));
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

FitPrompt chat_prompt(const ModelImpl& m, const std::vector<Message>& messages, const std::vector<std::string>& tools,
                      int64_t context) {
  check_messages(messages);
  std::vector<tokenizer::ChatMessage> chat;
  for (const Message& msg : messages) {
    tokenizer::ChatMessage c{msg.role, msg.content, {}};
    for (const ToolCall& t : msg.tool_calls) c.tool_calls.push_back({t.name, t.arguments});
    chat.push_back(std::move(c));
  }
  const tokenizer::Tokenizer* tok = &m.tokenizer;
  tokenizer::ChatOptions options{.add_generation_prompt = true, .tools = tools};
  return [chat = std::move(chat), options = std::move(options), tok, context](int64_t budget, bool truncate, int64_t& dropped) {
    std::vector<tokenizer::ChatMessage> kept = chat;
    std::vector<int32_t> ids = tokenizer::encode_chat(*tok, tokenizer::render_chat(kept, options));
    const size_t first = !kept.empty() && kept[0].role == "system" ? 1 : 0;
    const auto full = static_cast<int64_t>(ids.size());
    while (static_cast<int64_t>(ids.size()) > budget) {
      size_t next_user = first + 1;
      while (next_user < kept.size() && kept[next_user].role != "user") ++next_user;
      if (next_user < kept.size()) {
        kept.erase(kept.begin() + static_cast<std::ptrdiff_t>(first), kept.begin() + static_cast<std::ptrdiff_t>(next_user));
        ids = tokenizer::encode_chat(*tok, tokenizer::render_chat(kept, options));
        continue;
      }
      // Only the system prompt and the last turn are left.
      const auto head = static_cast<int64_t>(
          first ? tokenizer::encode_chat(*tok, tokenizer::render_chat(std::span(kept.data(), 1), {.add_generation_prompt = false})).size() : 0);
      if (!truncate || budget - head < 16) {
        throw Error(ErrorCode::kInvalidArgument, "the last message needs " + std::to_string(ids.size()) +
                                                     " tokens, more than the " + std::to_string(budget) +
                                                     " the context of " + std::to_string(context) + " leaves for it");
      }
      ids.erase(ids.begin() + head, ids.end() - (budget - head));
    }
    dropped = full - static_cast<int64_t>(ids.size());
    return ids;
  };
}

FitPrompt completion_prompt(const ModelImpl& m, std::string_view prompt) {
  std::vector<int32_t> ids = m.tokenizer.encode(prompt, {.parse_special = true});
  if (ids.empty()) throw Error(ErrorCode::kInvalidArgument, "complete: the prompt is empty");
  // Plain text has no turns: keep its most recent tokens.
  return [ids = std::move(ids)](int64_t budget, bool, int64_t& dropped) {
    const auto n = static_cast<int64_t>(ids.size());
    dropped = std::max<int64_t>(0, n - std::max<int64_t>(1, budget));
    return std::vector<int32_t>(ids.begin() + dropped, ids.end());
  };
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

Generation::Generation(const ModelImpl& m, const GenerateOptions& options, const FitPrompt& fit, SequenceState& seq)
    : m_(m), seq_(seq), fit_(fit), max_tokens_(options.max_tokens), ignore_eos_(options.ignore_eos),
      context_(seq.cache.capacity()), sampler_(sampling_params(m, options)), decoder_(m.tokenizer, /*skip_special=*/true),
      stops_(options.stop), t0_(Clock::now()) {
  const std::vector<int32_t> prompt = fit_(prompt_budget(context_, max_tokens_), false, r_.dropped_tokens);
  r_.timings.prompt_tokens = static_cast<int64_t>(prompt.size());
  t_prefill_ = Clock::now();
  prepare(prompt);
  r_.timings.cached_tokens = static_cast<int64_t>(committed_);
  r_.timings.prefilled_tokens = r_.timings.prompt_tokens - r_.timings.cached_tokens;
}

void Generation::prepare(const std::vector<int32_t>& tokens) {
  std::vector<int32_t>& history = seq_.history;
  size_t lcp = 0;
  while (lcp < tokens.size() && lcp < history.size() && tokens[lcp] == history[lcp]) ++lcp;
  if (lcp == tokens.size()) --lcp;  // the last token must run again for its logits
  seq_.cache.resize(static_cast<int64_t>(lcp));
  history.assign(tokens.begin(), tokens.end());
  committed_ = lcp;
  feed_.assign(tokens.begin() + static_cast<std::ptrdiff_t>(lcp), tokens.end());
}

void Generation::rollback() {
  seq_.cache.resize(static_cast<int64_t>(committed_));
  seq_.history.resize(committed_);
}

std::string Generation::advance() {
  const auto now = Clock::now();
  if (t_first_ == Clock::time_point{}) r_.timings.prefill_ms = ms_between(t_prefill_, now);
  committed_ = seq_.history.size();  // the step went through: the fed tokens are in the cache
  feed_.clear();

  const int32_t id = sampler_.sample(seq_.logits, seq_.history, r_.tokens);
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
  } else if (seq_.cache.size() == seq_.cache.capacity()) {
    shift_context();
  } else {
    seq_.history.push_back(id);
    feed_.assign(1, id);
  }
  return text;
}

void Generation::shift_context() {
  // Context full mid-answer: re-fit the history into half the context, keep at most a quarter
  // of the answer so far (its latest tokens) and continue; a quarter stays free.
  const auto in_cache = static_cast<int64_t>(r_.tokens.size()) - 1;  // the last token is not in yet
  const int64_t kept = std::min(in_cache, context_ / 4);
  int64_t dropped = 0;
  std::vector<int32_t> shifted = fit_(context_ - context_ / 4 - kept, true, dropped);
  shifted.insert(shifted.end(), r_.tokens.end() - 1 - kept, r_.tokens.end());
  r_.dropped_tokens += dropped + in_cache - kept;
  prepare(shifted);
}

void Generation::finish(FinishReason reason, std::string& text) {
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

void Generation::cancel() {
  if (!done_) {
    seq_.history.resize(committed_);  // tokens of a feed that never ran are not in the cache
    done_ = true;
  }
  std::string none;
  finish(FinishReason::kCancelled, none);
}

}  // namespace qwenedge::detail
