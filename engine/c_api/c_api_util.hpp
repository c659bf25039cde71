// Helpers shared by the C API's sources: errors as status codes and thread-local messages,
// parameter conversion, results copied into malloc'ed memory.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qwenedge/error.hpp"
#include "qwenedge/generation.hpp"
#include "qwenedge/model.hpp"
#include "qwenedge/qwenedge.h"

// The model handle, shared by every C API source.
struct qwen_model {
  explicit qwen_model(qwenedge::Model m) : model(std::move(m)) {
    const qwenedge::ModelInfo& i = model.info();
    info.path = i.path.c_str();
    info.name = i.name.c_str();
    info.architecture = i.architecture.c_str();
    info.weight_type = i.weight_type.c_str();
    info.isa = i.isa.c_str();
    info.vocab_size = i.vocab_size;
    info.hidden = i.hidden;
    info.layers = i.layers;
    info.heads = i.heads;
    info.kv_heads = i.kv_heads;
    info.ffn = i.ffn;
    info.context_length = i.context_length;
    info.context = model.options().context;
    info.threads = model.options().threads;
    info.parameters = i.parameters;
    info.file_bytes = i.file_bytes;
    info.eos_ids = i.eos_ids.data();
    info.n_eos_ids = i.eos_ids.size();
  }

  qwenedge::Model model;
  qwen_model_info info{};  // points into model.info(), which lives as long as the model
};

namespace qwenedge::capi {

using qwenedge::Error;
using qwenedge::ErrorCode;

#define QWEN_STR2(x) #x
#define QWEN_STR(x) QWEN_STR2(x)
constexpr const char* kVersion = QWEN_STR(QWEN_VERSION_MAJOR) "." QWEN_STR(QWEN_VERSION_MINOR) "." QWEN_STR(QWEN_VERSION_PATCH);

// The last failure's message. Storing it may itself run out of memory; the flag then stands in.
inline thread_local std::string t_error;
inline thread_local bool t_error_lost = false;

inline void set_error(const char* prefix, const char* message) noexcept {
  t_error_lost = false;
  try {
    t_error.assign(prefix);
    t_error.append(message);
  } catch (...) {
    t_error.clear();
    t_error_lost = true;
  }
}

inline void clear_error() noexcept {
  t_error.clear();
  t_error_lost = false;
}

inline qwen_status to_status(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument: return QWEN_ERR_INVALID_ARGUMENT;
    case ErrorCode::kIo: return QWEN_ERR_IO;
    case ErrorCode::kBadModelFile: return QWEN_ERR_BAD_MODEL_FILE;
    case ErrorCode::kUnsupported: return QWEN_ERR_UNSUPPORTED;
    case ErrorCode::kCancelled: return QWEN_ERR_CANCELLED;
    case ErrorCode::kInternal: return QWEN_ERR_INTERNAL;
  }
  return QWEN_ERR_INTERNAL;
}

// A failure that has no qwenedge::ErrorCode (a buffer too small).
struct CStatusError {
  qwen_status status;
  std::string message;
};

// Runs body (which returns normally on success and throws on failure) and turns the outcome
// into a status and the thread's message.
template <class Body>
inline qwen_status guard(Body&& body) noexcept {
  try {
    body();
    clear_error();
    return QWEN_OK;
  } catch (const Error& e) {
    set_error("", e.what());
    return to_status(e.code());
  } catch (const CStatusError& e) {
    set_error("", e.message.c_str());
    return e.status;
  } catch (const std::bad_alloc&) {
    set_error("", "out of memory");
    return QWEN_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    set_error("internal error: ", e.what());
    return QWEN_ERR_INTERNAL;
  } catch (...) {
    set_error("internal error: ", "unknown exception");
    return QWEN_ERR_INTERNAL;
  }
}

inline void require(bool ok, const char* message) {
  if (!ok) throw Error(ErrorCode::kInvalidArgument, message);
}

// Rejects a NULL handle in a function that cannot return a status.
template <class T>
inline bool check_handle(const T* handle, const char* message) noexcept {
  if (handle) return true;
  set_error("", message);
  return false;
}

// Marks a handle busy for one call: a second thread (or a callback re-entering) gets an error
// instead of corrupting it.
class BusyGuard {
 public:
  BusyGuard(std::atomic<bool>& busy, const char* what) : busy_(busy) {
    if (busy_.exchange(true)) {
      throw Error(ErrorCode::kInvalidArgument, std::string(what) +
                                                   " is in use by another call (it serves one thread at a time, and "
                                                   "a stream callback must not call into it)");
    }
  }
  ~BusyGuard() { busy_.store(false); }
  BusyGuard(const BusyGuard&) = delete;
  BusyGuard& operator=(const BusyGuard&) = delete;

 private:
  std::atomic<bool>& busy_;
};

// A negative (or NaN) sampling field means "the model's default".
inline std::optional<float> optional_float(float v, const char* name) {
  if (std::isnan(v)) throw Error(ErrorCode::kInvalidArgument, std::string(name) + " is NaN");
  return v < 0 ? std::nullopt : std::optional<float>(v);
}

inline std::vector<std::string> string_list(const char* const* items, size_t n, const char* name) {
  std::vector<std::string> out;
  if (n == 0) return out;
  if (!items) throw Error(ErrorCode::kInvalidArgument, std::string(name) + " is NULL but its count is " + std::to_string(n));
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (!items[i]) throw Error(ErrorCode::kInvalidArgument, std::string(name) + "[" + std::to_string(i) + "] is NULL");
    out.emplace_back(items[i]);
  }
  return out;
}

inline qwenedge::GenerateOptions to_options(const qwen_generate_params* params) {
  const qwen_generate_params p = params ? *params : qwen_generate_default_params();
  qwenedge::GenerateOptions o;
  o.max_tokens = p.max_tokens;
  o.temperature = optional_float(p.temperature, "temperature");
  o.top_p = optional_float(p.top_p, "top_p");
  if (p.top_k >= 0) o.top_k = p.top_k;
  o.min_p = optional_float(p.min_p, "min_p");
  o.repetition_penalty = optional_float(p.repetition_penalty, "repetition_penalty");
  o.presence_penalty = p.presence_penalty;
  o.frequency_penalty = p.frequency_penalty;
  o.repeat_last_n = p.repeat_last_n;
  if (p.seed != QWEN_SEED_RANDOM) o.seed = p.seed;
  o.stop = string_list(p.stop, p.n_stop, "stop");
  o.tools = string_list(p.tools, p.n_tools, "tools");
  o.ignore_eos = p.ignore_eos != 0;
  return o;
}

inline std::vector<qwenedge::Message> to_messages(const qwen_message* messages, size_t n) {
  require(messages || n == 0, "messages is NULL");
  std::vector<qwenedge::Message> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const qwen_message& m = messages[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (!m.role) throw Error(ErrorCode::kInvalidArgument, at + ".role is NULL");
    qwenedge::Message msg{m.role, m.content ? m.content : "", {}};
    if (m.n_tool_calls > 0 && !m.tool_calls) throw Error(ErrorCode::kInvalidArgument, at + ".tool_calls is NULL");
    for (size_t k = 0; k < m.n_tool_calls; ++k) {
      const qwen_tool_call& t = m.tool_calls[k];
      if (!t.name || !t.arguments) {
        throw Error(ErrorCode::kInvalidArgument, at + ".tool_calls[" + std::to_string(k) + "] has a NULL name or arguments");
      }
      msg.tool_calls.push_back({t.name, t.arguments});
    }
    out.push_back(std::move(msg));
  }
  return out;
}

inline char* copy_string(const std::string& s) {
  auto* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (!out) throw std::bad_alloc();
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return out;
}

// Ids into a caller's buffer; *n receives the count, also when it does not fit.
inline void copy_ids(const std::vector<int32_t>& ids, int32_t* out, size_t capacity, size_t* n, const char* fn) {
  *n = ids.size();
  if (ids.size() > capacity) {
    throw CStatusError{QWEN_ERR_BUFFER_TOO_SMALL, std::string(fn) + ": " + std::to_string(ids.size()) +
                                                      " tokens do not fit in a buffer of " + std::to_string(capacity)};
  }
  if (!ids.empty()) std::memcpy(out, ids.data(), ids.size() * sizeof(int32_t));
}

// Text and a NUL into a caller's buffer; *len receives the length, also when it does not fit.
inline void copy_text(const std::string& s, char* out, size_t capacity, size_t* len, const char* fn) {
  *len = s.size();
  if (s.size() >= capacity) {
    throw CStatusError{QWEN_ERR_BUFFER_TOO_SMALL, std::string(fn) + ": " + std::to_string(s.size()) +
                                                      " bytes and a NUL do not fit in a buffer of " + std::to_string(capacity)};
  }
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
}

inline void fill_result(const qwenedge::Result& r, qwen_result* out) {
  if (!out) return;
  char* text = copy_string(r.text);
  int32_t* tokens = nullptr;
  if (!r.tokens.empty()) {
    tokens = static_cast<int32_t*>(std::malloc(r.tokens.size() * sizeof(int32_t)));
    if (!tokens) {
      std::free(text);
      throw std::bad_alloc();
    }
    std::memcpy(tokens, r.tokens.data(), r.tokens.size() * sizeof(int32_t));
  }
  out->text = text;
  out->text_len = r.text.size();
  out->tokens = tokens;
  out->n_tokens = r.tokens.size();
  switch (r.finish) {
    case qwenedge::FinishReason::kStop: out->finish = QWEN_FINISH_STOP; break;
    case qwenedge::FinishReason::kLength: out->finish = QWEN_FINISH_LENGTH; break;
    case qwenedge::FinishReason::kCancelled: out->finish = QWEN_FINISH_CANCELLED; break;
  }
  out->dropped_tokens = r.dropped_tokens;
  const qwenedge::Timings& t = r.timings;
  out->timings = qwen_timings{t.prompt_tokens, t.cached_tokens, t.prefilled_tokens, t.generated_tokens,
                              t.ttft_ms, t.prefill_ms, t.decode_ms, t.prefill_tokens_per_s(), t.decode_tokens_per_s()};
}

inline qwenedge::StreamCallback to_callback(qwen_stream_callback on_text, void* user_data) {
  if (!on_text) return {};
  return [on_text, user_data](std::string_view text) {
    // A copy so that the callback gets a NUL-terminated string whatever the view points into.
    const std::string chunk(text);
    return on_text(chunk.c_str(), chunk.size(), user_data) == 0;
  };
}


}  // namespace qwenedge::capi
