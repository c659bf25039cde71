// The C API (include/qwenedge/qwenedge.h): opaque handles around the C++ objects. Every entry
// point catches everything: a C++ exception never unwinds into C code, it becomes a status code
// and a thread-local message.
#include "qwenedge/qwenedge.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "qwenedge/error.hpp"
#include "qwenedge/model.hpp"
#include "qwenedge/session.hpp"

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

struct qwen_session {
  explicit qwen_session(qwenedge::Session s) : session(std::move(s)) {}

  qwenedge::Session session;
  // Set while a call runs: a second thread (or the stream callback re-entering) gets an error
  // instead of a corrupted KV cache.
  std::atomic<bool> busy{false};
};

namespace {

using qwenedge::Error;
using qwenedge::ErrorCode;

#define QWEN_STR2(x) #x
#define QWEN_STR(x) QWEN_STR2(x)
constexpr const char* kVersion = QWEN_STR(QWEN_VERSION_MAJOR) "." QWEN_STR(QWEN_VERSION_MINOR) "." QWEN_STR(QWEN_VERSION_PATCH);

// The last failure's message. Storing it may itself run out of memory; the flag then stands in.
thread_local std::string t_error;
thread_local bool t_error_lost = false;

void set_error(const char* prefix, const char* message) noexcept {
  t_error_lost = false;
  try {
    t_error.assign(prefix);
    t_error.append(message);
  } catch (...) {
    t_error.clear();
    t_error_lost = true;
  }
}

void clear_error() noexcept {
  t_error.clear();
  t_error_lost = false;
}

qwen_status to_status(ErrorCode code) noexcept {
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
qwen_status guard(Body&& body) noexcept {
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

void require(bool ok, const char* message) {
  if (!ok) throw Error(ErrorCode::kInvalidArgument, message);
}

// Rejects a NULL handle in a function that cannot return a status.
template <class T>
bool check_handle(const T* handle, const char* message) noexcept {
  if (handle) return true;
  set_error("", message);
  return false;
}

class BusyGuard {
 public:
  explicit BusyGuard(qwen_session* s) : s_(s) {
    if (s_->busy.exchange(true)) {
      throw Error(ErrorCode::kInvalidArgument,
                  "the session is in use by another call (a session serves one thread at a time, and its "
                  "stream callback must not call into it)");
    }
  }
  ~BusyGuard() { s_->busy.store(false); }
  BusyGuard(const BusyGuard&) = delete;
  BusyGuard& operator=(const BusyGuard&) = delete;

 private:
  qwen_session* s_;
};

// A negative (or NaN) sampling field means "the model's default".
std::optional<float> optional_float(float v, const char* name) {
  if (std::isnan(v)) throw Error(ErrorCode::kInvalidArgument, std::string(name) + " is NaN");
  return v < 0 ? std::nullopt : std::optional<float>(v);
}

std::vector<std::string> string_list(const char* const* items, size_t n, const char* name) {
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

qwenedge::GenerateOptions to_options(const qwen_generate_params* params) {
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

std::vector<qwenedge::Message> to_messages(const qwen_message* messages, size_t n) {
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

char* copy_string(const std::string& s) {
  auto* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (!out) throw std::bad_alloc();
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return out;
}

void fill_result(const qwenedge::Result& r, qwen_result* out) {
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

qwenedge::StreamCallback to_callback(qwen_stream_callback on_text, void* user_data) {
  if (!on_text) return {};
  return [on_text, user_data](std::string_view text) {
    // A copy so that the callback gets a NUL-terminated string whatever the view points into.
    const std::string chunk(text);
    return on_text(chunk.c_str(), chunk.size(), user_data) == 0;
  };
}

}  // namespace

extern "C" {

const char* qwen_status_name(qwen_status status) {
  switch (status) {
    case QWEN_OK: return "ok";
    case QWEN_ERR_INVALID_ARGUMENT: return "invalid argument";
    case QWEN_ERR_IO: return "i/o error";
    case QWEN_ERR_BAD_MODEL_FILE: return "bad model file";
    case QWEN_ERR_UNSUPPORTED: return "unsupported";
    case QWEN_ERR_CANCELLED: return "cancelled";
    case QWEN_ERR_INTERNAL: return "internal error";
    case QWEN_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case QWEN_ERR_OUT_OF_MEMORY: return "out of memory";
  }
  return "unknown status";
}

const char* qwen_last_error(void) {
  return t_error_lost ? "out of memory (the error message could not be stored)" : t_error.c_str();
}

const char* qwen_version(void) { return kVersion; }

void qwen_string_free(char* str) { std::free(str); }

qwen_model_params qwen_model_default_params(void) {
  const qwenedge::LoadOptions d;
  return qwen_model_params{d.threads, d.context, d.prefetch ? 1 : 0};
}

qwen_status qwen_model_load(const char* path, const qwen_model_params* params, qwen_model** out_model) {
  if (out_model) *out_model = nullptr;
  return guard([&] {
    require(out_model != nullptr, "qwen_model_load: out_model is NULL");
    require(path != nullptr, "qwen_model_load: path is NULL");
    const qwen_model_params p = params ? *params : qwen_model_default_params();
    qwenedge::LoadOptions options;
    options.threads = p.threads;
    options.context = p.context;
    options.prefetch = p.prefetch != 0;
    auto handle = std::make_unique<qwen_model>(qwenedge::Model::load(path, options));
    *out_model = handle.release();
  });
}

void qwen_model_free(qwen_model* model) { delete model; }

const qwen_model_info* qwen_model_get_info(const qwen_model* model) {
  if (!check_handle(model, "qwen_model_get_info: model is NULL")) return nullptr;
  return &model->info;
}

qwen_status qwen_tokenize(const qwen_model* model, const char* text, size_t text_len, int parse_special, int32_t* tokens,
                          size_t capacity, size_t* n_tokens) {
  if (n_tokens) *n_tokens = 0;
  return guard([&] {
    require(model != nullptr, "qwen_tokenize: model is NULL");
    require(n_tokens != nullptr, "qwen_tokenize: n_tokens is NULL");
    require(text != nullptr || text_len == 0, "qwen_tokenize: text is NULL");
    require(tokens != nullptr || capacity == 0, "qwen_tokenize: tokens is NULL but capacity is not 0");
    const std::vector<int32_t> ids =
        model->model.tokenize(std::string_view(text ? text : "", text_len), parse_special != 0);
    *n_tokens = ids.size();
    if (ids.size() > capacity) {
      throw CStatusError{QWEN_ERR_BUFFER_TOO_SMALL, "qwen_tokenize: " + std::to_string(ids.size()) +
                                                        " tokens do not fit in a buffer of " + std::to_string(capacity)};
    }
    if (!ids.empty()) std::memcpy(tokens, ids.data(), ids.size() * sizeof(int32_t));
  });
}

qwen_status qwen_detokenize(const qwen_model* model, const int32_t* tokens, size_t n_tokens, int skip_special, char* text,
                            size_t capacity, size_t* text_len) {
  if (text_len) *text_len = 0;
  return guard([&] {
    require(model != nullptr, "qwen_detokenize: model is NULL");
    require(text_len != nullptr, "qwen_detokenize: text_len is NULL");
    require(tokens != nullptr || n_tokens == 0, "qwen_detokenize: tokens is NULL");
    require(text != nullptr || capacity == 0, "qwen_detokenize: text is NULL but capacity is not 0");
    const std::string s = model->model.detokenize(std::span<const int32_t>(tokens, n_tokens), skip_special != 0);
    *text_len = s.size();
    if (s.size() >= capacity) {
      throw CStatusError{QWEN_ERR_BUFFER_TOO_SMALL, "qwen_detokenize: " + std::to_string(s.size()) +
                                                        " bytes and a NUL do not fit in a buffer of " +
                                                        std::to_string(capacity)};
    }
    std::memcpy(text, s.data(), s.size());
    text[s.size()] = '\0';
  });
}

qwen_status qwen_render_chat(const qwen_model* model, const qwen_message* messages, size_t n_messages,
                             int add_generation_prompt, char** out_text) {
  if (out_text) *out_text = nullptr;
  return guard([&] {
    require(model != nullptr, "qwen_render_chat: model is NULL");
    require(out_text != nullptr, "qwen_render_chat: out_text is NULL");
    *out_text = copy_string(model->model.render_chat(to_messages(messages, n_messages), add_generation_prompt != 0));
  });
}

qwen_session_params qwen_session_default_params(void) {
  const qwenedge::SessionOptions d;
  return qwen_session_params{d.context, d.threads};
}

qwen_status qwen_session_create(const qwen_model* model, const qwen_session_params* params, qwen_session** out_session) {
  if (out_session) *out_session = nullptr;
  return guard([&] {
    require(model != nullptr, "qwen_session_create: model is NULL");
    require(out_session != nullptr, "qwen_session_create: out_session is NULL");
    const qwen_session_params p = params ? *params : qwen_session_default_params();
    qwenedge::SessionOptions options;
    options.context = p.context;
    options.threads = p.threads;
    auto handle = std::make_unique<qwen_session>(qwenedge::Session(model->model, options));
    *out_session = handle.release();
  });
}

void qwen_session_free(qwen_session* session) { delete session; }

qwen_status qwen_session_reset(qwen_session* session) {
  return guard([&] {
    require(session != nullptr, "qwen_session_reset: session is NULL");
    const BusyGuard busy(session);
    session->session.reset();
  });
}

int64_t qwen_session_context(const qwen_session* session) {
  if (!check_handle(session, "qwen_session_context: session is NULL")) return -1;
  return session->session.context();
}

int64_t qwen_session_cached_tokens(const qwen_session* session) {
  if (!check_handle(session, "qwen_session_cached_tokens: session is NULL")) return -1;
  return session->session.cached_tokens();
}

qwen_generate_params qwen_generate_default_params(void) {
  const qwenedge::GenerateOptions d;
  qwen_generate_params p{};
  p.max_tokens = d.max_tokens;
  p.temperature = -1.0f;
  p.top_p = -1.0f;
  p.top_k = -1;
  p.min_p = -1.0f;
  p.repetition_penalty = -1.0f;
  p.presence_penalty = d.presence_penalty;
  p.frequency_penalty = d.frequency_penalty;
  p.repeat_last_n = d.repeat_last_n;
  p.seed = QWEN_SEED_RANDOM;
  p.stop = nullptr;
  p.n_stop = 0;
  p.tools = nullptr;
  p.n_tools = 0;
  p.ignore_eos = d.ignore_eos ? 1 : 0;
  return p;
}

const char* qwen_finish_reason_name(qwen_finish_reason reason) {
  switch (reason) {
    case QWEN_FINISH_STOP: return "stop";
    case QWEN_FINISH_LENGTH: return "length";
    case QWEN_FINISH_CANCELLED: return "cancelled";
  }
  return "unknown";
}

void qwen_result_free(qwen_result* result) {
  if (!result) return;
  std::free(result->text);
  std::free(result->tokens);
  *result = qwen_result{};
}

qwen_status qwen_chat(qwen_session* session, const qwen_message* messages, size_t n_messages,
                      const qwen_generate_params* params, qwen_stream_callback on_text, void* user_data,
                      qwen_result* out_result) {
  if (out_result) *out_result = qwen_result{};
  return guard([&] {
    require(session != nullptr, "qwen_chat: session is NULL");
    const std::vector<qwenedge::Message> chat = to_messages(messages, n_messages);
    const qwenedge::GenerateOptions options = to_options(params);
    const BusyGuard busy(session);
    const qwenedge::Result r = session->session.chat(chat, options, to_callback(on_text, user_data));
    fill_result(r, out_result);
  });
}

qwen_status qwen_complete(qwen_session* session, const char* prompt, const qwen_generate_params* params,
                          qwen_stream_callback on_text, void* user_data, qwen_result* out_result) {
  if (out_result) *out_result = qwen_result{};
  return guard([&] {
    require(session != nullptr, "qwen_complete: session is NULL");
    require(prompt != nullptr, "qwen_complete: prompt is NULL");
    const qwenedge::GenerateOptions options = to_options(params);
    const BusyGuard busy(session);
    const qwenedge::Result r = session->session.complete(prompt, options, to_callback(on_text, user_data));
    fill_result(r, out_result);
  });
}

}  // extern "C"
