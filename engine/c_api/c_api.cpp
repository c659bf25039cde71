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
#include "engine/c_api/c_api_util.hpp"

struct qwen_session {
  explicit qwen_session(qwenedge::Session s) : session(std::move(s)) {}

  qwenedge::Session session;
  // Set while a call runs: a second thread (or the stream callback re-entering) gets an error
  // instead of a corrupted KV cache.
  std::atomic<bool> busy{false};
};

using namespace qwenedge::capi;

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
    copy_ids(ids, tokens, capacity, n_tokens, "qwen_tokenize");
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
    copy_text(s, text, capacity, text_len, "qwen_detokenize");
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
    const BusyGuard busy(session->busy, "the session");
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
    const BusyGuard busy(session->busy, "the session");
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
    const BusyGuard busy(session->busy, "the session");
    const qwenedge::Result r = session->session.complete(prompt, options, to_callback(on_text, user_data));
    fill_result(r, out_result);
  });
}

}  // extern "C"
