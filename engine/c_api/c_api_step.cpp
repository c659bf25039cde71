// The C API's tokenizer-only and step-level handles (include/qwenedge/qwenedge.h) around
// qwenedge::Tokenizer, Sequence, Engine and Generation.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/c_api/c_api_util.hpp"
#include "qwenedge/generation.hpp"
#include "qwenedge/qwenedge.h"
#include "qwenedge/step.hpp"
#include "qwenedge/tokenizer.hpp"

struct qwen_tokenizer {
  qwenedge::Tokenizer tokenizer;
};

struct qwen_sequence {
  qwenedge::Sequence sequence;
};

struct qwen_engine {
  qwenedge::Engine engine;
  std::atomic<bool> busy{false};
  std::vector<qwenedge::StepInput> inputs;  // reused: a step allocates nothing once warm
};

struct qwen_generation {
  qwen_generation(qwen_sequence* s, qwenedge::Generation g) : sequence(s), generation(std::move(g)) {}
  qwen_sequence* sequence;
  qwenedge::Generation generation;
  std::string text;  // what the last advance returned, kept for the caller
  std::atomic<bool> busy{false};
};

namespace {

using namespace qwenedge::capi;
using qwenedge::Error;
using qwenedge::ErrorCode;

qwenedge::Logits to_logits(qwen_logits l) {
  switch (l) {
    case QWEN_LOGITS_LAST: return qwenedge::Logits::kLast;
    case QWEN_LOGITS_ALL: return qwenedge::Logits::kAll;
    case QWEN_LOGITS_ROWS: return qwenedge::Logits::kRows;
    case QWEN_LOGITS_NONE: return qwenedge::Logits::kNone;
  }
  throw Error(ErrorCode::kInvalidArgument, "logits = " + std::to_string(static_cast<int>(l)) + " is not a qwen_logits value");
}

qwen_status make_generation(qwen_sequence* sequence, const qwen_generate_params* params, qwen_generation** out,
                            const char* fn, const std::function<qwenedge::Prompt()>& prompt) {
  if (out) *out = nullptr;
  return guard([&] {
    require(sequence != nullptr, (std::string(fn) + ": sequence is NULL").c_str());
    require(out != nullptr, (std::string(fn) + ": out_generation is NULL").c_str());
    const qwenedge::GenerateOptions options = to_options(params);
    auto handle = std::make_unique<qwen_generation>(sequence, qwenedge::Generation(sequence->sequence, prompt(), options));
    *out = handle.release();
  });
}

}  // namespace

extern "C" {

qwen_status qwen_tokenizer_load(const char* path, qwen_tokenizer** out_tokenizer) {
  if (out_tokenizer) *out_tokenizer = nullptr;
  return guard([&] {
    require(path != nullptr, "qwen_tokenizer_load: path is NULL");
    require(out_tokenizer != nullptr, "qwen_tokenizer_load: out_tokenizer is NULL");
    *out_tokenizer = new qwen_tokenizer{qwenedge::Tokenizer::load(path)};
  });
}

void qwen_tokenizer_free(qwen_tokenizer* tokenizer) { delete tokenizer; }

qwen_status qwen_tokenizer_encode(const qwen_tokenizer* tokenizer, const char* text, size_t text_len, int parse_special,
                                  int32_t* tokens, size_t capacity, size_t* n_tokens) {
  if (n_tokens) *n_tokens = 0;
  return guard([&] {
    require(tokenizer != nullptr, "qwen_tokenizer_encode: tokenizer is NULL");
    require(n_tokens != nullptr, "qwen_tokenizer_encode: n_tokens is NULL");
    require(text != nullptr || text_len == 0, "qwen_tokenizer_encode: text is NULL");
    require(tokens != nullptr || capacity == 0, "qwen_tokenizer_encode: tokens is NULL but capacity is not 0");
    const std::vector<int32_t> ids = tokenizer->tokenizer.encode(std::string_view(text ? text : "", text_len), parse_special != 0);
    copy_ids(ids, tokens, capacity, n_tokens, "qwen_tokenizer_encode");
  });
}

qwen_status qwen_tokenizer_decode(const qwen_tokenizer* tokenizer, const int32_t* tokens, size_t n_tokens, int skip_special,
                                  char* text, size_t capacity, size_t* text_len) {
  if (text_len) *text_len = 0;
  return guard([&] {
    require(tokenizer != nullptr, "qwen_tokenizer_decode: tokenizer is NULL");
    require(text_len != nullptr, "qwen_tokenizer_decode: text_len is NULL");
    require(tokens != nullptr || n_tokens == 0, "qwen_tokenizer_decode: tokens is NULL");
    require(text != nullptr || capacity == 0, "qwen_tokenizer_decode: text is NULL but capacity is not 0");
    const std::string s = tokenizer->tokenizer.decode(std::span<const int32_t>(tokens, n_tokens), skip_special != 0);
    copy_text(s, text, capacity, text_len, "qwen_tokenizer_decode");
  });
}

qwen_status qwen_tokenizer_render_chat(const qwen_tokenizer* tokenizer, const qwen_message* messages, size_t n_messages,
                                       int add_generation_prompt, char** out_text) {
  if (out_text) *out_text = nullptr;
  return guard([&] {
    require(tokenizer != nullptr, "qwen_tokenizer_render_chat: tokenizer is NULL");
    require(out_text != nullptr, "qwen_tokenizer_render_chat: out_text is NULL");
    *out_text = copy_string(tokenizer->tokenizer.render_chat(to_messages(messages, n_messages), add_generation_prompt != 0));
  });
}

int32_t qwen_tokenizer_vocab_size(const qwen_tokenizer* tokenizer) {
  if (!check_handle(tokenizer, "qwen_tokenizer_vocab_size: tokenizer is NULL")) return -1;
  return tokenizer->tokenizer.vocab_size();
}

qwen_status qwen_sequence_create(const qwen_model* model, int64_t context, qwen_sequence** out_sequence) {
  if (out_sequence) *out_sequence = nullptr;
  return guard([&] {
    require(model != nullptr, "qwen_sequence_create: model is NULL");
    require(out_sequence != nullptr, "qwen_sequence_create: out_sequence is NULL");
    *out_sequence = new qwen_sequence{qwenedge::Sequence(model->model, context)};
  });
}

void qwen_sequence_free(qwen_sequence* sequence) { delete sequence; }

int64_t qwen_sequence_capacity(const qwen_sequence* sequence) {
  if (!check_handle(sequence, "qwen_sequence_capacity: sequence is NULL")) return -1;
  return sequence->sequence.capacity();
}

int64_t qwen_sequence_size(const qwen_sequence* sequence) {
  if (!check_handle(sequence, "qwen_sequence_size: sequence is NULL")) return -1;
  return sequence->sequence.size();
}

const int32_t* qwen_sequence_tokens(const qwen_sequence* sequence, size_t* n_tokens) {
  if (n_tokens) *n_tokens = 0;
  if (!check_handle(sequence, "qwen_sequence_tokens: sequence is NULL")) return nullptr;
  const std::span<const int32_t> t = sequence->sequence.tokens();
  if (n_tokens) *n_tokens = t.size();
  return t.data();
}

const float* qwen_sequence_logits(const qwen_sequence* sequence, size_t* n_vocab) {
  if (n_vocab) *n_vocab = 0;
  if (!check_handle(sequence, "qwen_sequence_logits: sequence is NULL")) return nullptr;
  const std::span<const float> l = sequence->sequence.logits();
  if (n_vocab) *n_vocab = l.size();
  return l.data();
}

qwen_status qwen_sequence_truncate(qwen_sequence* sequence, int64_t n) {
  return guard([&] {
    require(sequence != nullptr, "qwen_sequence_truncate: sequence is NULL");
    sequence->sequence.truncate(n);
  });
}

qwen_engine_params qwen_engine_default_params(void) {
  const qwenedge::EngineOptions d;
  return qwen_engine_params{d.threads, d.max_step_tokens};
}

qwen_status qwen_engine_create(const qwen_model* model, const qwen_engine_params* params, qwen_engine** out_engine) {
  if (out_engine) *out_engine = nullptr;
  return guard([&] {
    require(model != nullptr, "qwen_engine_create: model is NULL");
    require(out_engine != nullptr, "qwen_engine_create: out_engine is NULL");
    const qwen_engine_params p = params ? *params : qwen_engine_default_params();
    *out_engine = new qwen_engine{qwenedge::Engine(model->model, {.threads = p.threads, .max_step_tokens = p.max_step_tokens}), {}, {}};
  });
}

void qwen_engine_free(qwen_engine* engine) { delete engine; }

qwen_status qwen_engine_step(qwen_engine* engine, const qwen_step_input* inputs, size_t n_inputs) {
  return guard([&] {
    require(engine != nullptr, "qwen_engine_step: engine is NULL");
    require(inputs != nullptr || n_inputs == 0, "qwen_engine_step: inputs is NULL");
    const BusyGuard busy(engine->busy, "the engine");
    engine->inputs.clear();
    for (size_t i = 0; i < n_inputs; ++i) {
      const qwen_step_input& in = inputs[i];
      const std::string at = "qwen_engine_step: inputs[" + std::to_string(i) + "]";
      if (!in.sequence) throw Error(ErrorCode::kInvalidArgument, at + ".sequence is NULL");
      if (!in.tokens && in.n_tokens > 0) throw Error(ErrorCode::kInvalidArgument, at + ".tokens is NULL");
      if (!in.rows && in.n_rows > 0) throw Error(ErrorCode::kInvalidArgument, at + ".rows is NULL");
      engine->inputs.push_back({&in.sequence->sequence, std::span<const int32_t>(in.tokens, in.n_tokens), to_logits(in.logits),
                                std::span<const int32_t>(in.rows, in.n_rows), in.out});
    }
    engine->engine.step(engine->inputs);
  });
}

qwen_status qwen_generation_create_chat(qwen_sequence* sequence, const qwen_message* messages, size_t n_messages,
                                        const qwen_generate_params* params, qwen_generation** out_generation) {
  return make_generation(sequence, params, out_generation, "qwen_generation_create_chat", [&] {
    return qwenedge::Prompt::chat(sequence->sequence.model(), to_messages(messages, n_messages), to_options(params).tools);
  });
}

qwen_status qwen_generation_create_text(qwen_sequence* sequence, const char* prompt, const qwen_generate_params* params,
                                        qwen_generation** out_generation) {
  return make_generation(sequence, params, out_generation, "qwen_generation_create_text", [&] {
    require(prompt != nullptr, "qwen_generation_create_text: prompt is NULL");
    return qwenedge::Prompt::text(sequence->sequence.model(), prompt);
  });
}

qwen_status qwen_generation_create_tokens(qwen_sequence* sequence, const int32_t* tokens, size_t n_tokens,
                                          const qwen_generate_params* params, qwen_generation** out_generation) {
  return make_generation(sequence, params, out_generation, "qwen_generation_create_tokens", [&] {
    require(tokens != nullptr || n_tokens == 0, "qwen_generation_create_tokens: tokens is NULL");
    return qwenedge::Prompt::tokens(std::vector<int32_t>(tokens, tokens + n_tokens));
  });
}

void qwen_generation_free(qwen_generation* generation) { delete generation; }

int qwen_generation_done(const qwen_generation* generation) {
  if (!check_handle(generation, "qwen_generation_done: generation is NULL")) return 1;
  return generation->generation.done() ? 1 : 0;
}

qwen_status qwen_generation_input(qwen_generation* generation, int64_t max_tokens, qwen_step_input* out_input) {
  if (out_input) *out_input = qwen_step_input{};
  return guard([&] {
    require(generation != nullptr, "qwen_generation_input: generation is NULL");
    require(out_input != nullptr, "qwen_generation_input: out_input is NULL");
    const BusyGuard busy(generation->busy, "the generation");
    const qwenedge::StepInput in = generation->generation.input(max_tokens > 0 ? max_tokens : INT64_MAX);
    out_input->sequence = generation->sequence;
    out_input->tokens = in.tokens.data();
    out_input->n_tokens = in.tokens.size();
    out_input->logits = in.logits == qwenedge::Logits::kNone ? QWEN_LOGITS_NONE : QWEN_LOGITS_LAST;
  });
}

qwen_status qwen_generation_advance(qwen_generation* generation, const char** text, size_t* text_len) {
  if (text) *text = "";
  if (text_len) *text_len = 0;
  return guard([&] {
    require(generation != nullptr, "qwen_generation_advance: generation is NULL");
    const BusyGuard busy(generation->busy, "the generation");
    generation->text = generation->generation.advance();
    if (text) *text = generation->text.c_str();
    if (text_len) *text_len = generation->text.size();
  });
}

void qwen_generation_cancel(qwen_generation* generation) {
  if (check_handle(generation, "qwen_generation_cancel: generation is NULL")) generation->generation.cancel();
}

qwen_status qwen_generation_result(const qwen_generation* generation, qwen_result* out_result) {
  if (out_result) *out_result = qwen_result{};
  return guard([&] {
    require(generation != nullptr, "qwen_generation_result: generation is NULL");
    require(out_result != nullptr, "qwen_generation_result: out_result is NULL");
    fill_result(generation->generation.result(), out_result);
  });
}

}  // extern "C"
