/* qwenedge C API — a thin, stable boundary for bindings and C programs.
 *
 * Conventions
 *   - Opaque handles (qwen_model, qwen_session, qwen_tokenizer, qwen_sequence, qwen_engine,
 *     qwen_generation) made by *_load / *_create and released by
 *     *_free. Every *_free accepts NULL and does nothing with it.
 *   - Parameter structs come from *_default_params(); change the fields you need and pass a
 *     pointer (NULL means "all defaults"). Fields may be added at the end in later versions, so
 *     always start from *_default_params() rather than a zeroed struct.
 *   - Functions that can fail return a qwen_status. On failure, qwen_last_error() returns a
 *     message naming the file, field or value at fault; output parameters are left zeroed/NULL.
 *   - No C++ exception ever leaves the library: every failure becomes a status code.
 *   - Strings in are NUL-terminated UTF-8 unless a length is passed with them. Strings the
 *     library allocates for the caller are freed with qwen_string_free (or qwen_result_free for
 *     the contents of a qwen_result).
 *
 * Threading
 *   - A qwen_model is immutable after loading: any number of sessions on any number of threads
 *     may use it at once, and its functions may be called concurrently.
 *   - A qwen_session is used by one thread at a time. A call on a session that is already busy
 *     (another thread, or re-entry from its own stream callback) fails with
 *     QWEN_ERR_INVALID_ARGUMENT instead of corrupting it.
 *   - A session keeps its model alive: qwen_model_free may be called while sessions exist.
 *   - qwen_last_error() is per thread.
 */
#ifndef QWENEDGE_QWENEDGE_H
#define QWENEDGE_QWENEDGE_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define QWEN_API __attribute__((visibility("default")))
#else
#define QWEN_API
#endif

/* The version of these headers; qwen_version() reports the library's. */
#define QWEN_VERSION_MAJOR 0
#define QWEN_VERSION_MINOR 1
#define QWEN_VERSION_PATCH 0

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Status codes and errors
 * ------------------------------------------------------------------------------------------- */

/* Codes 1..99 mirror qwenedge::ErrorCode of the C++ API; codes from 100 exist only here. */
typedef enum qwen_status {
  QWEN_OK = 0,
  QWEN_ERR_INVALID_ARGUMENT = 1, /* a NULL handle/pointer, a bad option, value or request */
  QWEN_ERR_IO = 2,               /* a file could not be opened, read or written */
  QWEN_ERR_BAD_MODEL_FILE = 3,   /* the model file is malformed or inconsistent */
  QWEN_ERR_UNSUPPORTED = 4,      /* well-formed input this engine does not handle */
  QWEN_ERR_CANCELLED = 5,        /* the caller asked to stop (see qwen_chat for streaming) */
  QWEN_ERR_INTERNAL = 6,         /* a bug: please report it with qwen_last_error() */
  QWEN_ERR_BUFFER_TOO_SMALL = 100, /* a caller buffer is too small; the size needed is reported */
  QWEN_ERR_OUT_OF_MEMORY = 101     /* an allocation failed */
} qwen_status;

/* A short constant name for a code: "ok", "invalid argument", "i/o error", ... Never NULL. */
QWEN_API const char* qwen_status_name(qwen_status status);

/* The message of the most recent failure on this thread. Functions that return a qwen_status
 * set it on every call ("" after QWEN_OK); the others (getters, *_free) set it only when they
 * reject an argument. The text stays valid until the next qwen_* call on this thread. Never
 * NULL. */
QWEN_API const char* qwen_last_error(void);

/* The library's version, "MAJOR.MINOR.PATCH". */
QWEN_API const char* qwen_version(void);

/* Frees a string the library allocated (qwen_render_chat). NULL is ignored. */
QWEN_API void qwen_string_free(char* str);

/* ---------------------------------------------------------------------------------------------
 * Model
 * ------------------------------------------------------------------------------------------- */

typedef struct qwen_model qwen_model;

typedef struct qwen_model_params {
  int32_t threads;  /* threads per session step; 0 = the machine's physical cores (default) */
  int64_t context;  /* KV-cache positions of new sessions; 0 = 4096 or the model's limit if smaller */
  int prefetch;     /* non-zero: read the weights in ahead of the first token (default 1) */
} qwen_model_params;

QWEN_API qwen_model_params qwen_model_default_params(void);

/* Loads a GGUF model file. params may be NULL (defaults). On success *out_model is a new handle.
 * Returns QWEN_OK;
 *   QWEN_ERR_INVALID_ARGUMENT  path or out_model NULL, threads outside 0..1024, context < 0 or
 *                              above the model's limit, an unknown QWENEDGE_ISA value;
 *   QWEN_ERR_IO                the file is missing or unreadable (the message names the path);
 *   QWEN_ERR_BAD_MODEL_FILE    the file is not valid GGUF or its tensors/metadata are inconsistent;
 *   QWEN_ERR_UNSUPPORTED       not a qwen2 model, or a tensor type the engine does not handle;
 *   QWEN_ERR_OUT_OF_MEMORY, QWEN_ERR_INTERNAL. */
QWEN_API qwen_status qwen_model_load(const char* path, const qwen_model_params* params, qwen_model** out_model);

/* Releases the caller's reference; the weights stay mapped while sessions still use them. */
QWEN_API void qwen_model_free(qwen_model* model);

/* What a loaded model is. Owned by the model: valid until qwen_model_free (strings included). */
typedef struct qwen_model_info {
  const char* path;
  const char* name;          /* general.name, or the file name */
  const char* architecture;  /* "qwen2" */
  const char* weight_type;   /* storage type of the FFN matrices: "Q8_0", "Q4_0", "F16", ... */
  const char* isa;           /* kernel path in use: "avx2", "avx512", "neon", "scalar", ... */
  int64_t vocab_size;
  int64_t hidden;
  int64_t layers;
  int64_t heads;
  int64_t kv_heads;
  int64_t ffn;
  int64_t context_length;    /* the model's own limit */
  int64_t context;           /* KV-cache positions new sessions get by default */
  int32_t threads;           /* threads sessions use by default */
  uint64_t parameters;
  uint64_t file_bytes;
  const int32_t* eos_ids;    /* every token id that ends a turn */
  size_t n_eos_ids;
} qwen_model_info;

/* The model's description, or NULL (QWEN_ERR_INVALID_ARGUMENT in qwen_last_error) for a NULL
 * model. */
QWEN_API const qwen_model_info* qwen_model_get_info(const qwen_model* model);

/* Text -> token ids. text need not be NUL-terminated (text_len bytes are read); it is
 * NFC-normalized, and invalid UTF-8 is kept as raw bytes, never an error. parse_special non-zero: text such as "<|im_end|>" becomes the special
 * token (leave it 0 for user text). *n_tokens receives the number of ids, also on
 * QWEN_ERR_BUFFER_TOO_SMALL: call once with capacity 0 (tokens may then be NULL) to size the
 * buffer. Returns QWEN_OK;
 *   QWEN_ERR_INVALID_ARGUMENT  model or n_tokens NULL, text NULL with text_len > 0, tokens NULL
 *                              with capacity > 0;
 *   QWEN_ERR_BUFFER_TOO_SMALL  capacity < *n_tokens (the buffer's contents are unspecified);
 *   QWEN_ERR_OUT_OF_MEMORY, QWEN_ERR_INTERNAL. */
QWEN_API qwen_status qwen_tokenize(const qwen_model* model, const char* text, size_t text_len, int parse_special,
                                   int32_t* tokens, size_t capacity, size_t* n_tokens);

/* Token ids -> text (valid UTF-8: a byte sequence the ids leave incomplete becomes U+FFFD),
 * written NUL-terminated into text[capacity]. *text_len receives the length without the NUL
 * (the text may itself contain NUL bytes), also on QWEN_ERR_BUFFER_TOO_SMALL: the buffer needs
 * *text_len + 1 bytes. skip_special non-zero leaves out special tokens.
 * Returns QWEN_OK;
 *   QWEN_ERR_INVALID_ARGUMENT  model or text_len NULL, tokens NULL with n_tokens > 0, text NULL
 *                              with capacity > 0, an id outside the vocabulary;
 *   QWEN_ERR_BUFFER_TOO_SMALL  capacity < *text_len + 1 (the buffer's contents are unspecified);
 *   QWEN_ERR_OUT_OF_MEMORY, QWEN_ERR_INTERNAL. */
QWEN_API qwen_status qwen_detokenize(const qwen_model* model, const int32_t* tokens, size_t n_tokens, int skip_special,
                                     char* text, size_t capacity, size_t* text_len);

/* ---------------------------------------------------------------------------------------------
 * Chat messages
 * ------------------------------------------------------------------------------------------- */

typedef struct qwen_tool_call {
  const char* name;       /* function name */
  const char* arguments;  /* JSON text */
} qwen_tool_call;

typedef struct qwen_message {
  const char* role;     /* "system", "user", "assistant" or "tool" */
  const char* content;  /* NULL is taken as "" */
  const qwen_tool_call* tool_calls;  /* assistant messages only; may be NULL when n_tool_calls is 0 */
  size_t n_tool_calls;
} qwen_message;

/* The prompt text the chat template renders for messages (ending with the assistant's turn when
 * add_generation_prompt is non-zero). *out_text is a new NUL-terminated string: free it with
 * qwen_string_free. Returns QWEN_OK;
 *   QWEN_ERR_INVALID_ARGUMENT  model or out_text NULL, messages NULL with n_messages > 0, a
 *                              message with a NULL role or tool-call field;
 *   QWEN_ERR_OUT_OF_MEMORY, QWEN_ERR_INTERNAL. */
QWEN_API qwen_status qwen_render_chat(const qwen_model* model, const qwen_message* messages, size_t n_messages,
                                      int add_generation_prompt, char** out_text);

/* ---------------------------------------------------------------------------------------------
 * Session: one conversation with its KV cache
 * ------------------------------------------------------------------------------------------- */

typedef struct qwen_session qwen_session;

typedef struct qwen_session_params {
  int64_t context;  /* KV-cache positions; 0 = the model's qwen_model_params.context (default) */
  int32_t threads;  /* 0 = the model's qwen_model_params.threads (default) */
} qwen_session_params;

QWEN_API qwen_session_params qwen_session_default_params(void);

/* Creates a session on model (which it keeps alive). params may be NULL (defaults).
 * Returns QWEN_OK;
 *   QWEN_ERR_INVALID_ARGUMENT  model or out_session NULL, context < 0 or above the model's limit,
 *                              threads < 0;
 *   QWEN_ERR_OUT_OF_MEMORY     the KV cache could not be allocated;
 *   QWEN_ERR_INTERNAL. */
QWEN_API qwen_status qwen_session_create(const qwen_model* model, const qwen_session_params* params,
                                         qwen_session** out_session);

/* Frees the session and its KV cache. Must not be called while another thread uses it. */
QWEN_API void qwen_session_free(qwen_session* session);

/* Forgets the conversation (the KV cache stays allocated). Returns QWEN_OK;
 *   QWEN_ERR_INVALID_ARGUMENT  session NULL or busy. */
QWEN_API qwen_status qwen_session_reset(qwen_session* session);

/* Capacity of the KV cache in tokens, and tokens now cached; -1 for a NULL session. */
QWEN_API int64_t qwen_session_context(const qwen_session* session);
QWEN_API int64_t qwen_session_cached_tokens(const qwen_session* session);

/* ---------------------------------------------------------------------------------------------
 * Generation
 * ------------------------------------------------------------------------------------------- */

/* Seed value meaning "a fresh random seed for each call". */
#define QWEN_SEED_RANDOM UINT64_MAX

/* Sampling fields set to a negative value (the default) take the model's generation defaults
 * (Qwen2.5-Instruct: temperature 0.7, top_p 0.8, top_k 20, repetition_penalty 1.1, min_p off). */
typedef struct qwen_generate_params {
  int32_t max_tokens;          /* answer length limit, >= 1 (default 512) */
  float temperature;           /* 0 = greedy; < 0 = model default */
  float top_p;                 /* (0, 1]; < 0 = model default */
  int32_t top_k;               /* 0 = off; < 0 = model default */
  float min_p;                 /* [0, 1), 0 = off; < 0 = model default (off) */
  float repetition_penalty;    /* > 0, 1 = off, over prompt and answer; < 0 = model default */
  float presence_penalty;      /* [-2, 2], over the answer (default 0) */
  float frequency_penalty;     /* [-2, 2], over the answer (default 0) */
  int32_t repeat_last_n;       /* window of the repetition penalty; -1 = everything (default 64) */
  uint64_t seed;               /* QWEN_SEED_RANDOM (default) = a fresh seed per call */
  const char* const* stop;     /* n_stop non-empty stop strings; generation ends before their text */
  size_t n_stop;
  const char* const* tools;    /* qwen_chat: n_tools JSON texts of tool definitions for the template */
  size_t n_tools;
  int ignore_eos;              /* non-zero: keep going past end-of-turn tokens (benchmarks) */
} qwen_generate_params;

QWEN_API qwen_generate_params qwen_generate_default_params(void);

/* Receives the answer as it is generated: len bytes at text (also NUL-terminated), always whole
 * UTF-8 characters, valid only during the call. Return 0 to go on, non-zero to stop: no further
 * token is generated and the call returns QWEN_OK with finish = QWEN_FINISH_CANCELLED. The
 * callback must not throw or longjmp, and must not call into the same session. */
typedef int (*qwen_stream_callback)(const char* text, size_t len, void* user_data);

typedef enum qwen_finish_reason {
  QWEN_FINISH_STOP = 0,      /* end-of-turn token or a stop string */
  QWEN_FINISH_LENGTH = 1,    /* max_tokens reached */
  QWEN_FINISH_CANCELLED = 2  /* the stream callback returned non-zero */
} qwen_finish_reason;

/* "stop", "length", "cancelled". Never NULL. */
QWEN_API const char* qwen_finish_reason_name(qwen_finish_reason reason);

typedef struct qwen_timings {
  int64_t prompt_tokens;     /* tokens of the full rendered prompt */
  int64_t cached_tokens;     /* of those, reused from the session's KV cache */
  int64_t prefilled_tokens;  /* of those, computed in this call */
  int64_t generated_tokens;
  double ttft_ms;            /* call start -> first token sampled */
  double prefill_ms;
  double decode_ms;          /* first token -> last token */
  double prefill_tokens_per_s;
  double decode_tokens_per_s;
} qwen_timings;

/* The outcome of a generation. text and tokens are allocated by the library: release them with
 * qwen_result_free. */
typedef struct qwen_result {
  char* text;          /* the answer, NUL-terminated, without the stop string or end-of-turn token */
  size_t text_len;     /* its length in bytes */
  int32_t* tokens;     /* the answer's token ids (NULL when n_tokens is 0) */
  size_t n_tokens;
  qwen_finish_reason finish;
  int64_t dropped_tokens;  /* history dropped to fit the context (oldest turns first) */
  qwen_timings timings;
} qwen_result;

/* Frees result->text and result->tokens and zeroes the struct. NULL is ignored. */
QWEN_API void qwen_result_free(qwen_result* result);

/* Renders the conversation with the chat template, reuses the longest prefix already in the
 * session's KV cache (a follow-up turn that repeats the earlier messages prefills only its new
 * tokens), and generates the assistant's answer. When the conversation does not fit the context,
 * the oldest turns after the system prompt are dropped (result->dropped_tokens).
 * params may be NULL (defaults), on_text NULL (no streaming), out_result NULL (answer discarded,
 * e.g. when streaming is all the caller needs). Returns QWEN_OK (also when the callback cancelled:
 * see result->finish);
 *   QWEN_ERR_INVALID_ARGUMENT  session NULL or busy, no messages, a NULL or unknown role, a bad
 *                              parameter (max_tokens < 1, an empty stop string, ...), or a last
 *                              message too long for the context;
 *   QWEN_ERR_OUT_OF_MEMORY, QWEN_ERR_INTERNAL. */
QWEN_API qwen_status qwen_chat(qwen_session* session, const qwen_message* messages, size_t n_messages,
                               const qwen_generate_params* params, qwen_stream_callback on_text, void* user_data,
                               qwen_result* out_result);

/* Plain completion of prompt (no chat template; special-token text such as "<|im_start|>" is
 * parsed as special tokens). When the prompt does not fit, its oldest tokens are dropped.
 * Arguments and codes as qwen_chat (an empty prompt is QWEN_ERR_INVALID_ARGUMENT). */
QWEN_API qwen_status qwen_complete(qwen_session* session, const char* prompt, const qwen_generate_params* params,
                                   qwen_stream_callback on_text, void* user_data, qwen_result* out_result);


/* ---------------------------------------------------------------------------------------------
 * Tokenizer only: vocabulary and chat template without the weights
 * ------------------------------------------------------------------------------------------- */

typedef struct qwen_tokenizer qwen_tokenizer;

/* Loads the tokenizer of a GGUF model file (only its metadata is read) or of a Hugging Face
 * tokenizer.json (a tokenizer_config.json beside it gives the chat template and special tokens).
 * Returns QWEN_OK;
 *   QWEN_ERR_INVALID_ARGUMENT  path or out_tokenizer NULL;
 *   QWEN_ERR_IO                the file is missing or unreadable;
 *   QWEN_ERR_BAD_MODEL_FILE    the file or its tokenizer is malformed;
 *   QWEN_ERR_OUT_OF_MEMORY, QWEN_ERR_INTERNAL. */
QWEN_API qwen_status qwen_tokenizer_load(const char* path, qwen_tokenizer** out_tokenizer);
QWEN_API void qwen_tokenizer_free(qwen_tokenizer* tokenizer);

/* As qwen_tokenize / qwen_detokenize / qwen_render_chat, with a tokenizer instead of a model. */
QWEN_API qwen_status qwen_tokenizer_encode(const qwen_tokenizer* tokenizer, const char* text, size_t text_len,
                                           int parse_special, int32_t* tokens, size_t capacity, size_t* n_tokens);
QWEN_API qwen_status qwen_tokenizer_decode(const qwen_tokenizer* tokenizer, const int32_t* tokens, size_t n_tokens,
                                           int skip_special, char* text, size_t capacity, size_t* text_len);
QWEN_API qwen_status qwen_tokenizer_render_chat(const qwen_tokenizer* tokenizer, const qwen_message* messages,
                                                size_t n_messages, int add_generation_prompt, char** out_text);
/* The number of token ids; -1 for a NULL tokenizer. */
QWEN_API int32_t qwen_tokenizer_vocab_size(const qwen_tokenizer* tokenizer);

/* ---------------------------------------------------------------------------------------------
 * The step level: sequences, batched forward steps, logits, generations
 *
 *   qwen_sequence: one text's KV cache and tokens. qwen_engine: runs steps (its own threads and
 *   scratch). qwen_engine_step appends tokens to any number of sequences in one pass over the
 *   weights (a prompt chunk of one beside single decode tokens of others) and writes the logits
 *   each asks for. A qwen_generation drives one sequence through an answer: each round, put
 *   qwen_generation_input's input into a step, run it, then qwen_generation_advance.
 *   An engine, a sequence and a generation are each used by one thread at a time; a sequence
 *   keeps its model alive and must outlive the generations made on it.
 * ------------------------------------------------------------------------------------------- */

typedef struct qwen_sequence qwen_sequence;
typedef struct qwen_engine qwen_engine;
typedef struct qwen_generation qwen_generation;

/* context: KV-cache positions; 0 = the model's qwen_model_params.context. Returns QWEN_OK;
 *   QWEN_ERR_INVALID_ARGUMENT  model or out_sequence NULL, context < 0 or above the model's limit;
 *   QWEN_ERR_OUT_OF_MEMORY, QWEN_ERR_INTERNAL. */
QWEN_API qwen_status qwen_sequence_create(const qwen_model* model, int64_t context, qwen_sequence** out_sequence);
QWEN_API void qwen_sequence_free(qwen_sequence* sequence);

/* Positions the KV cache holds, and positions filled; -1 for a NULL sequence. */
QWEN_API int64_t qwen_sequence_capacity(const qwen_sequence* sequence);
QWEN_API int64_t qwen_sequence_size(const qwen_sequence* sequence);
/* The tokens in the cache (*n_tokens of them), valid until the sequence next changes; NULL for a
 * NULL sequence. */
QWEN_API const int32_t* qwen_sequence_tokens(const qwen_sequence* sequence, size_t* n_tokens);
/* [vocab]: the logits of the last token of the last step that asked for them with
 * QWEN_LOGITS_LAST, valid until the next step on the sequence; NULL for a NULL sequence. */
QWEN_API const float* qwen_sequence_logits(const qwen_sequence* sequence, size_t* n_vocab);
/* Forgets every position from n on. Returns QWEN_OK; QWEN_ERR_INVALID_ARGUMENT for a NULL
 * sequence or n outside 0..size. */
QWEN_API qwen_status qwen_sequence_truncate(qwen_sequence* sequence, int64_t n);

typedef struct qwen_engine_params {
  int32_t threads;          /* 0 = the model's qwen_model_params.threads (default) */
  int64_t max_step_tokens;  /* scratch rows; longer steps run in several passes (default 512) */
} qwen_engine_params;

QWEN_API qwen_engine_params qwen_engine_default_params(void);

/* Returns QWEN_OK; QWEN_ERR_INVALID_ARGUMENT for model or out_engine NULL, threads < 0,
 * max_step_tokens < 1; QWEN_ERR_OUT_OF_MEMORY, QWEN_ERR_INTERNAL. */
QWEN_API qwen_status qwen_engine_create(const qwen_model* model, const qwen_engine_params* params, qwen_engine** out_engine);
QWEN_API void qwen_engine_free(qwen_engine* engine);

typedef enum qwen_logits {
  QWEN_LOGITS_LAST = 0,  /* the last token's, into qwen_sequence_logits (the default) */
  QWEN_LOGITS_ALL = 1,   /* every token's: n_tokens x vocab floats into out */
  QWEN_LOGITS_ROWS = 2,  /* the tokens at rows (strictly increasing indices): n_rows x vocab into out */
  QWEN_LOGITS_NONE = 3   /* none: a prompt chunk that is not the prompt's end */
} qwen_logits;

/* One sequence's part of a step: tokens go to positions size .. size + n_tokens - 1. Zeroed,
 * it asks for the last token's logits. */
typedef struct qwen_step_input {
  qwen_sequence* sequence;
  const int32_t* tokens;
  size_t n_tokens;
  qwen_logits logits;
  const int32_t* rows;  /* QWEN_LOGITS_ROWS only */
  size_t n_rows;
  float* out;           /* QWEN_LOGITS_ALL and QWEN_LOGITS_ROWS */
} qwen_step_input;

/* One forward pass for every input. The results do not depend on the threads, on the other
 * sequences of the step or on how a prompt is split into steps. Returns QWEN_OK;
 *   QWEN_ERR_INVALID_ARGUMENT  engine NULL or busy, inputs NULL with n_inputs > 0, and, naming the
 *                              input: no sequence, a sequence twice or of another model, a token
 *                              id outside the vocabulary, no room in the sequence, bad rows/out;
 *                              then no sequence has changed;
 *   QWEN_ERR_OUT_OF_MEMORY, QWEN_ERR_INTERNAL. */
QWEN_API qwen_status qwen_engine_step(qwen_engine* engine, const qwen_step_input* inputs, size_t n_inputs);

/* A generation on sequence for a chat (rendered by the template, turns dropped oldest first to
 * fit), a plain prompt (special-token text parsed; oldest tokens dropped to fit) or token ids.
 * It keeps the longest prefix the sequence already holds. params may be NULL (defaults).
 * Returns QWEN_OK; QWEN_ERR_INVALID_ARGUMENT for a NULL argument, no messages, an unknown role,
 * an empty prompt, a bad parameter or a last message too long for the context;
 * QWEN_ERR_OUT_OF_MEMORY, QWEN_ERR_INTERNAL. */
QWEN_API qwen_status qwen_generation_create_chat(qwen_sequence* sequence, const qwen_message* messages, size_t n_messages,
                                                 const qwen_generate_params* params, qwen_generation** out_generation);
QWEN_API qwen_status qwen_generation_create_text(qwen_sequence* sequence, const char* prompt,
                                                 const qwen_generate_params* params, qwen_generation** out_generation);
QWEN_API qwen_status qwen_generation_create_tokens(qwen_sequence* sequence, const int32_t* tokens, size_t n_tokens,
                                                   const qwen_generate_params* params, qwen_generation** out_generation);
QWEN_API void qwen_generation_free(qwen_generation* generation);

/* Non-zero once the answer is complete (or for a NULL generation). */
QWEN_API int qwen_generation_done(const qwen_generation* generation);
/* This generation's part of the next step: up to max_tokens (<= 0: all) of the tokens it still
 * has to append, asking for logits only when they end its feed. The input's tokens stay valid
 * until the next call on the generation. Returns QWEN_OK (n_tokens 0 once done);
 * QWEN_ERR_INVALID_ARGUMENT for a NULL argument. */
QWEN_API qwen_status qwen_generation_input(qwen_generation* generation, int64_t max_tokens, qwen_step_input* out_input);
/* After the step that ran the input: samples the next token when the input ended the feed, and
 * gives the text that became final (whole UTF-8 characters, possibly empty, NUL-terminated),
 * valid until the next call on the generation. Returns QWEN_OK; QWEN_ERR_INVALID_ARGUMENT for a
 * NULL argument; QWEN_ERR_OUT_OF_MEMORY, QWEN_ERR_INTERNAL. */
QWEN_API qwen_status qwen_generation_advance(qwen_generation* generation, const char** text, size_t* text_len);
/* Ends the answer now (finish QWEN_FINISH_CANCELLED). NULL is ignored. */
QWEN_API void qwen_generation_cancel(qwen_generation* generation);
/* A copy of the answer so far (complete once done); release it with qwen_result_free.
 * Returns QWEN_OK; QWEN_ERR_INVALID_ARGUMENT for a NULL argument; QWEN_ERR_OUT_OF_MEMORY. */
QWEN_API qwen_status qwen_generation_result(const qwen_generation* generation, qwen_result* out_result);

#ifdef __cplusplus
}
#endif

#endif /* QWENEDGE_QWENEDGE_H */
