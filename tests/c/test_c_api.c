/* Tests of the C API (include/qwenedge/qwenedge.h), compiled as C99.
 *   test_c_api MODEL.gguf
 * MODEL must carry the real Qwen2.5 tokenizer (weights may be random). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qwenedge/qwenedge.h"

static int g_failures = 0;
static int g_checks = 0;

#define CHECK(cond)                                                                          \
  do {                                                                                       \
    ++g_checks;                                                                              \
    if (!(cond)) {                                                                           \
      ++g_failures;                                                                          \
      fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: \"%s\"\n", __FILE__, __LINE__, \
              #cond, qwen_last_error());                                                     \
    }                                                                                        \
  } while (0)

#define CHECK_STATUS(expr, expected)                                                          \
  do {                                                                                        \
    qwen_status s_ = (expr);                                                                  \
    ++g_checks;                                                                               \
    if (s_ != (expected)) {                                                                   \
      ++g_failures;                                                                           \
      fprintf(stderr, "%s:%d: %s returned %d (%s), expected %s; last error: \"%s\"\n",        \
              __FILE__, __LINE__, #expr, (int)s_, qwen_status_name(s_), #expected,            \
              qwen_last_error());                                                             \
    }                                                                                         \
  } while (0)

static const char* g_model_path;

static qwen_generate_params greedy_params(int max_tokens) {
  qwen_generate_params p = qwen_generate_default_params();
  p.temperature = 0.0f;
  p.max_tokens = max_tokens;
  p.seed = 1;
  /* A random-weight model may end its turn at once; the tests want text to compare. */
  p.ignore_eos = 1;
  return p;
}

static void test_errors_without_model(void) {
  qwen_model* model = (qwen_model*)&g_checks; /* must be overwritten with NULL on failure */
  qwen_model_params params = qwen_model_default_params();
  const char* missing = "/nonexistent/dir/missing-model.gguf";

  CHECK(strcmp(qwen_version(), "0.1.0") == 0 || qwen_version()[0] != '\0');
  CHECK(strcmp(qwen_status_name(QWEN_OK), "ok") == 0);
  CHECK(strcmp(qwen_status_name(QWEN_ERR_IO), "i/o error") == 0);
  CHECK(strcmp(qwen_finish_reason_name(QWEN_FINISH_CANCELLED), "cancelled") == 0);
  CHECK(params.threads == 0 && params.context == 0 && params.prefetch == 1);

  CHECK_STATUS(qwen_model_load(missing, NULL, &model), QWEN_ERR_IO);
  CHECK(model == NULL);
  CHECK(strstr(qwen_last_error(), missing) != NULL);

  CHECK_STATUS(qwen_model_load(NULL, NULL, &model), QWEN_ERR_INVALID_ARGUMENT);
  CHECK(strstr(qwen_last_error(), "path") != NULL);
  CHECK_STATUS(qwen_model_load(g_model_path, NULL, NULL), QWEN_ERR_INVALID_ARGUMENT);

  params.threads = -1;
  CHECK_STATUS(qwen_model_load(g_model_path, &params, &model), QWEN_ERR_INVALID_ARGUMENT);
  CHECK(strstr(qwen_last_error(), "threads") != NULL);
  params = qwen_model_default_params();
  params.context = -5;
  CHECK_STATUS(qwen_model_load(g_model_path, &params, &model), QWEN_ERR_INVALID_ARGUMENT);
  params.context = (int64_t)1 << 40; /* above any model's limit */
  CHECK_STATUS(qwen_model_load(g_model_path, &params, &model), QWEN_ERR_INVALID_ARGUMENT);
  CHECK(model == NULL);
}

static void test_null_handles(void) {
  qwen_session* session = NULL;
  qwen_message msg = {"user", "hi", NULL, 0};
  qwen_result result;
  size_t n = 99;
  int32_t ids[4];
  char text[8];

  qwen_model_free(NULL);
  qwen_session_free(NULL);
  qwen_string_free(NULL);
  qwen_result_free(NULL);

  CHECK(qwen_model_get_info(NULL) == NULL);
  CHECK(strstr(qwen_last_error(), "NULL") != NULL);
  CHECK(qwen_session_context(NULL) == -1);
  CHECK(qwen_session_cached_tokens(NULL) == -1);
  CHECK_STATUS(qwen_tokenize(NULL, "a", 1, 0, ids, 4, &n), QWEN_ERR_INVALID_ARGUMENT);
  CHECK(n == 0);
  CHECK_STATUS(qwen_detokenize(NULL, ids, 0, 0, text, sizeof text, &n), QWEN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(qwen_session_create(NULL, NULL, &session), QWEN_ERR_INVALID_ARGUMENT);
  CHECK(session == NULL);
  CHECK_STATUS(qwen_session_reset(NULL), QWEN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(qwen_chat(NULL, &msg, 1, NULL, NULL, NULL, &result), QWEN_ERR_INVALID_ARGUMENT);
  CHECK(result.text == NULL && result.n_tokens == 0);
  CHECK_STATUS(qwen_complete(NULL, "x", NULL, NULL, NULL, &result), QWEN_ERR_INVALID_ARGUMENT);
  CHECK(strstr(qwen_last_error(), "session is NULL") != NULL);
}

static void test_info(const qwen_model* model) {
  const qwen_model_info* info = qwen_model_get_info(model);
  CHECK(info != NULL);
  if (!info) return;
  CHECK(strcmp(info->architecture, "qwen2") == 0);
  CHECK(strcmp(info->path, g_model_path) == 0);
  CHECK(info->vocab_size >= 151643);
  CHECK(info->layers > 0 && info->hidden > 0 && info->heads > 0 && info->kv_heads > 0);
  CHECK(info->context == 256);
  CHECK(info->threads == 2);
  CHECK(info->n_eos_ids >= 1 && info->eos_ids != NULL);
  CHECK(info->parameters > 0 && info->file_bytes > 0);
  CHECK(info->isa[0] != '\0' && info->weight_type[0] != '\0');
}

static void test_tokenize_round_trip(const qwen_model* model) {
  const char* text = "Hello, world! 你好，世界 🙂 <|im_end|>";
  const size_t len = strlen(text);
  size_t n = 0, needed = 0, text_len = 0;
  int32_t* ids;
  char* out;
  int32_t special = -1;
  char small[4];

  /* Size query, then a buffer one short, then the right size. */
  CHECK_STATUS(qwen_tokenize(model, text, len, 0, NULL, 0, &needed), QWEN_ERR_BUFFER_TOO_SMALL);
  CHECK(needed > 5);
  CHECK(strstr(qwen_last_error(), "do not fit") != NULL);
  ids = (int32_t*)malloc(needed * sizeof *ids);
  CHECK_STATUS(qwen_tokenize(model, text, len, 0, ids, needed - 1, &n), QWEN_ERR_BUFFER_TOO_SMALL);
  CHECK(n == needed);
  CHECK_STATUS(qwen_tokenize(model, text, len, 0, ids, needed, &n), QWEN_OK);
  CHECK(n == needed);
  CHECK(qwen_last_error()[0] == '\0');

  /* Text back: the buffer needs room for the NUL too. */
  CHECK_STATUS(qwen_detokenize(model, ids, n, 0, NULL, 0, &text_len), QWEN_ERR_BUFFER_TOO_SMALL);
  CHECK(text_len == len);
  out = (char*)malloc(text_len + 1);
  CHECK_STATUS(qwen_detokenize(model, ids, n, 0, out, text_len, &text_len), QWEN_ERR_BUFFER_TOO_SMALL);
  CHECK_STATUS(qwen_detokenize(model, ids, n, 0, small, sizeof small, &text_len), QWEN_ERR_BUFFER_TOO_SMALL);
  CHECK(text_len == len);
  CHECK_STATUS(qwen_detokenize(model, ids, n, 0, out, text_len + 1, &text_len), QWEN_OK);
  CHECK(text_len == len && memcmp(out, text, len) == 0 && out[len] == '\0');

  /* parse_special: "<|im_end|>" is one token only when asked for. */
  CHECK_STATUS(qwen_tokenize(model, "<|im_end|>", 10, 1, &special, 1, &n), QWEN_OK);
  CHECK(n == 1 && special == 151645);
  CHECK_STATUS(qwen_tokenize(model, "", 0, 0, NULL, 0, &n), QWEN_OK);
  CHECK(n == 0);

  /* An id outside the vocabulary is the caller's error. */
  ids[0] = 1 << 30;
  CHECK_STATUS(qwen_detokenize(model, ids, 1, 0, out, text_len + 1, &text_len), QWEN_ERR_INVALID_ARGUMENT);
  free(out);
  free(ids);
}

static void test_render_chat(const qwen_model* model) {
  qwen_message msgs[2] = {{"system", "Be brief.", NULL, 0}, {"user", "Hi", NULL, 0}};
  char* prompt = NULL;
  CHECK_STATUS(qwen_render_chat(model, msgs, 2, 1, &prompt), QWEN_OK);
  CHECK(prompt != NULL && strcmp(prompt, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                                         "<|im_start|>assistant\n") == 0);
  qwen_string_free(prompt);
}

typedef struct StreamState {
  qwen_session* session;
  int calls;
  int cancel_after;       /* stop after this many calls; 0 = never */
  int whole_and_nul;      /* every chunk non-empty and NUL-terminated */
  qwen_status reentry;    /* what a call into the busy session returned */
  char text[4096];
  size_t len;
} StreamState;

static int on_text(const char* text, size_t len, void* user) {
  StreamState* st = (StreamState*)user;
  ++st->calls;
  if (len == 0 || text[len] != '\0') st->whole_and_nul = 0;
  if (st->len + len < sizeof st->text) {
    memcpy(st->text + st->len, text, len);
    st->len += len;
  }
  if (st->session) st->reentry = qwen_session_reset(st->session);
  return st->cancel_after > 0 && st->calls >= st->cancel_after;
}

static void stream_init(StreamState* st) {
  memset(st, 0, sizeof *st);
  st->whole_and_nul = 1;
  st->reentry = QWEN_OK;
}

static void test_chat(const qwen_model* model_in) {
  qwen_model* model = (qwen_model*)model_in;
  qwen_session* session = NULL;
  qwen_session* other = NULL;
  qwen_session_params sp = qwen_session_default_params();
  qwen_message msgs[3] = {{"user", "Write a short poem about the sea.", NULL, 0}, {"assistant", "", NULL, 0},
                          {"user", "Another one, please.", NULL, 0}};
  qwen_generate_params gp = greedy_params(12);
  qwen_result a, b, c;
  StreamState st;
  const char* stop_list[1] = {NULL};

  CHECK(sp.context == 0 && sp.threads == 0);
  sp.context = -1;
  CHECK_STATUS(qwen_session_create(model, &sp, &session), QWEN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(qwen_session_create(model, NULL, &session), QWEN_OK);
  CHECK_STATUS(qwen_session_create(model, NULL, &other), QWEN_OK);
  if (!session || !other) return;
  CHECK(qwen_session_context(session) == 256);
  CHECK(qwen_session_cached_tokens(session) == 0);

  /* Greedy twice: the same text, the same tokens. */
  CHECK_STATUS(qwen_chat(session, msgs, 1, &gp, NULL, NULL, &a), QWEN_OK);
  CHECK(a.text != NULL && a.text[a.text_len] == '\0');
  CHECK(a.n_tokens == 12 && a.finish == QWEN_FINISH_LENGTH);
  CHECK(a.timings.prompt_tokens > 0 && a.timings.generated_tokens == 12 && a.timings.cached_tokens == 0);
  CHECK(qwen_session_cached_tokens(session) > 0);
  CHECK_STATUS(qwen_chat(other, msgs, 1, &gp, NULL, NULL, &b), QWEN_OK);
  CHECK(b.text_len == a.text_len && memcmp(a.text, b.text, a.text_len) == 0);
  CHECK(b.n_tokens == a.n_tokens && memcmp(a.tokens, b.tokens, a.n_tokens * sizeof *a.tokens) == 0);
  CHECK_STATUS(qwen_session_reset(session), QWEN_OK);
  CHECK(qwen_session_cached_tokens(session) == 0);
  CHECK_STATUS(qwen_chat(session, msgs, 1, &gp, NULL, NULL, &c), QWEN_OK);
  CHECK(c.text_len == a.text_len && memcmp(a.text, c.text, a.text_len) == 0);
  qwen_result_free(&c);
  CHECK(c.text == NULL && c.tokens == NULL && c.n_tokens == 0);

  /* A follow-up turn reuses the cached prefix of the conversation. */
  msgs[1].content = a.text;
  CHECK_STATUS(qwen_chat(session, msgs, 3, &gp, NULL, NULL, &c), QWEN_OK);
  CHECK(c.timings.cached_tokens > 0 && c.timings.prefilled_tokens < c.timings.prompt_tokens);
  qwen_result_free(&c);

  /* Streaming: the chunks make up the answer, each a NUL-terminated non-empty string. */
  stream_init(&st);
  CHECK_STATUS(qwen_session_reset(other), QWEN_OK);
  CHECK_STATUS(qwen_chat(other, msgs, 1, &gp, on_text, &st, &c), QWEN_OK);
  CHECK(st.calls >= 1 && st.whole_and_nul);
  CHECK(st.len == c.text_len && memcmp(st.text, c.text, c.text_len) == 0);
  CHECK(c.text_len == a.text_len && memcmp(a.text, c.text, a.text_len) == 0);
  qwen_result_free(&c);

  /* Cancel after the first chunk: no further token, finish = cancelled, status OK. */
  stream_init(&st);
  st.cancel_after = 1;
  gp.max_tokens = 64;
  CHECK_STATUS(qwen_chat(other, msgs, 1, &gp, on_text, &st, &c), QWEN_OK);
  CHECK(st.calls == 1);
  CHECK(c.finish == QWEN_FINISH_CANCELLED);
  CHECK(c.text_len == st.len && c.n_tokens < 64);
  qwen_result_free(&c);

  /* A callback that calls into its own (busy) session is refused, not obeyed. */
  stream_init(&st);
  st.cancel_after = 1;
  st.session = other;
  CHECK_STATUS(qwen_chat(other, msgs, 1, &gp, on_text, &st, NULL), QWEN_OK);
  CHECK(st.reentry == QWEN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(qwen_session_reset(other), QWEN_OK); /* and the session is usable afterwards */

  /* Bad requests. */
  gp = greedy_params(0);
  CHECK_STATUS(qwen_chat(session, msgs, 1, &gp, NULL, NULL, &c), QWEN_ERR_INVALID_ARGUMENT);
  CHECK(strstr(qwen_last_error(), "max_tokens") != NULL);
  CHECK(c.text == NULL);
  gp = greedy_params(4);
  CHECK_STATUS(qwen_chat(session, msgs, 0, &gp, NULL, NULL, &c), QWEN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(qwen_chat(session, NULL, 1, &gp, NULL, NULL, &c), QWEN_ERR_INVALID_ARGUMENT);
  msgs[0].role = "narrator";
  CHECK_STATUS(qwen_chat(session, msgs, 1, &gp, NULL, NULL, &c), QWEN_ERR_INVALID_ARGUMENT);
  CHECK(strstr(qwen_last_error(), "narrator") != NULL);
  msgs[0].role = NULL;
  CHECK_STATUS(qwen_chat(session, msgs, 1, &gp, NULL, NULL, &c), QWEN_ERR_INVALID_ARGUMENT);
  msgs[0].role = "user";
  gp.stop = stop_list;
  gp.n_stop = 1;
  CHECK_STATUS(qwen_chat(session, msgs, 1, &gp, NULL, NULL, &c), QWEN_ERR_INVALID_ARGUMENT);
  CHECK(strstr(qwen_last_error(), "stop[0]") != NULL);
  CHECK_STATUS(qwen_complete(session, NULL, NULL, NULL, NULL, &c), QWEN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(qwen_complete(session, "", NULL, NULL, NULL, &c), QWEN_ERR_INVALID_ARGUMENT);

  /* Plain completion; and the session keeps working after its model handle is released. */
  qwen_model_free(model);
  gp = greedy_params(5);
  CHECK_STATUS(qwen_complete(session, "The capital of France is", &gp, NULL, NULL, &c), QWEN_OK);
  CHECK(c.n_tokens == 5 && c.finish == QWEN_FINISH_LENGTH);
  qwen_result_free(&c);

  qwen_result_free(&a);
  qwen_result_free(&b);
  qwen_session_free(session);
  qwen_session_free(other);
}

static void test_tokenizer_only(const qwen_model* model) {
  qwen_tokenizer* tok = (qwen_tokenizer*)&g_checks;
  const char* text = "Hello, 世界 <|im_end|>";
  int32_t a[64], b[64];
  size_t na = 0, nb = 0, len = 0;
  char back[128];
  char* prompt = NULL;
  char* from_model = NULL;
  qwen_message msg = {"user", "你好", NULL, 0};

  CHECK_STATUS(qwen_tokenizer_load("/nonexistent/t.gguf", &tok), QWEN_ERR_IO);
  CHECK(tok == NULL);
  CHECK_STATUS(qwen_tokenizer_load(g_model_path, &tok), QWEN_OK);
  CHECK(qwen_tokenizer_vocab_size(tok) > 151000);
  CHECK(qwen_tokenizer_vocab_size(NULL) == -1);
  CHECK_STATUS(qwen_tokenizer_encode(tok, text, strlen(text), 1, a, 64, &na), QWEN_OK);
  CHECK_STATUS(qwen_tokenize(model, text, strlen(text), 1, b, 64, &nb), QWEN_OK);
  CHECK(na == nb && memcmp(a, b, na * sizeof(int32_t)) == 0);
  CHECK_STATUS(qwen_tokenizer_encode(tok, text, strlen(text), 1, a, 1, &na), QWEN_ERR_BUFFER_TOO_SMALL);
  CHECK_STATUS(qwen_tokenizer_decode(tok, b, nb, 0, back, sizeof back, &len), QWEN_OK);
  CHECK(len == strlen(text) && strcmp(back, text) == 0);
  CHECK_STATUS(qwen_tokenizer_render_chat(tok, &msg, 1, 1, &prompt), QWEN_OK);
  CHECK_STATUS(qwen_render_chat(model, &msg, 1, 1, &from_model), QWEN_OK);
  CHECK(prompt && from_model && strcmp(prompt, from_model) == 0);
  qwen_string_free(prompt);
  qwen_string_free(from_model);
  qwen_tokenizer_free(tok);
}

/* ---- Hostile JSON: tool definitions and tool-call arguments from outside ---------------------
 * JSON nested past the library's limit (128 levels) must be refused with a message saying so,
 * not recursed into; tool definitions that are not JSON (bad UTF-8, cut by a NUL byte, a number
 * past a double's range) are refused naming the tool; call arguments that are not JSON are
 * rendered as a JSON string, as the template does, never refused. */

/* depth copies of open, then inner, then depth copies of close (close may be ""). */
static char* nested(size_t depth, const char* open, const char* inner, const char* close) {
  const size_t lo = strlen(open), li = strlen(inner), lc = strlen(close);
  char* out = (char*)malloc(depth * (lo + lc) + li + 1);
  char* p = out;
  size_t i;
  if (!out) return NULL;
  for (i = 0; i < depth; ++i, p += lo) memcpy(p, open, lo);
  memcpy(p, inner, li);
  p += li;
  for (i = 0; i < depth; ++i, p += lc) memcpy(p, close, lc);
  *p = '\0';
  return out;
}

/* A tool definition whose parameters are `parameters` (JSON text). */
static char* tool_with(const char* parameters) {
  const char* head = "{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": ";
  char* out = (char*)malloc(strlen(head) + strlen(parameters) + 3);
  if (!out) return NULL;
  strcpy(out, head);
  strcat(out, parameters);
  strcat(out, "}}");
  return out;
}

typedef struct Hostile {
  qwen_model* model;
  qwen_tokenizer* tok;
  qwen_session* session;
  qwen_sequence* seq;
} Hostile;

/* qwen_chat and qwen_generation_create_chat with one user message and `tool` as the one tool:
 * both return `expected`, and a failure's message holds `says` (and `says2` when not NULL). */
static void check_tool(const Hostile* h, const char* label, const char* tool, qwen_status expected, const char* says,
                       const char* says2) {
  qwen_message msg = {"user", "What is the weather?", NULL, 0};
  qwen_generate_params gp = greedy_params(1);
  qwen_generation* gen = NULL;
  qwen_result r;
  const char* tools[1];
  qwen_status s;
  int round;
  tools[0] = tool;
  gp.tools = tools;
  gp.n_tools = 1;
  for (round = 0; round < 2; ++round) {
    s = round == 0 ? qwen_chat(h->session, &msg, 1, &gp, NULL, NULL, &r) : qwen_generation_create_chat(h->seq, &msg, 1, &gp, &gen);
    ++g_checks;
    if (s != expected || (s != QWEN_OK && (!strstr(qwen_last_error(), says) || (says2 && !strstr(qwen_last_error(), says2))))) {
      ++g_failures;
      fprintf(stderr, "hostile tool %s (%s): %s, \"%.300s\"; expected %s with \"%s\"\n", label,
              round == 0 ? "qwen_chat" : "qwen_generation_create_chat", qwen_status_name(s), qwen_last_error(),
              qwen_status_name(expected), says);
    }
    if (round == 0 && s == QWEN_OK) qwen_result_free(&r);
    if (round == 1) CHECK((s == QWEN_OK) == (gen != NULL));
    qwen_generation_free(gen);
    gen = NULL;
  }
  CHECK_STATUS(qwen_session_reset(h->session), QWEN_OK);
}

/* The assistant's call with `arguments`, through the render functions and (when `generate`) the
 * chat and generation functions: each returns `expected`, a failure's message holds `says`; an
 * accepted prompt holds `says` (when not NULL). */
static void check_arguments(const Hostile* h, const char* label, const char* arguments, int generate,
                            qwen_status expected, const char* says) {
  qwen_tool_call call = {"get_weather", NULL};
  qwen_message msgs[2] = {{"user", "What is the weather?", NULL, 0}, {"assistant", "", NULL, 1}};
  qwen_generate_params gp = greedy_params(1);
  qwen_generation* gen = NULL;
  qwen_result r;
  char* text = NULL;
  qwen_status s;
  int round;
  call.arguments = arguments;
  msgs[1].tool_calls = &call;
  for (round = 0; round < (generate ? 4 : 2); ++round) {
    const char* fn[4] = {"qwen_render_chat", "qwen_tokenizer_render_chat", "qwen_chat", "qwen_generation_create_chat"};
    const char* found = NULL;
    switch (round) {
      case 0: s = qwen_render_chat(h->model, msgs, 2, 1, &text); break;
      case 1: s = qwen_tokenizer_render_chat(h->tok, msgs, 2, 1, &text); break;
      case 2: s = qwen_chat(h->session, msgs, 2, &gp, NULL, NULL, &r); break;
      default: s = qwen_generation_create_chat(h->seq, msgs, 2, &gp, &gen); break;
    }
    if (!says) found = "";
    else if (s != QWEN_OK) found = strstr(qwen_last_error(), says);
    else if (text) found = strstr(text, says);
    else found = "";
    ++g_checks;
    if (s != expected || !found) {
      ++g_failures;
      fprintf(stderr, "hostile arguments %s (%s): %s, \"%.300s\"; expected %s with \"%s\"\n", label, fn[round],
              qwen_status_name(s), qwen_last_error(), qwen_status_name(expected), says ? says : "");
    }
    if (round < 2) CHECK((s == QWEN_OK) == (text != NULL));
    if (round == 2 && s == QWEN_OK) qwen_result_free(&r);
    qwen_string_free(text);
    qwen_generation_free(gen);
    text = NULL;
    gen = NULL;
  }
  CHECK_STATUS(qwen_session_reset(h->session), QWEN_OK);
}

static void test_hostile_json(const qwen_model* model) {
  static const size_t depths[2] = {10000, 100000};
  qwen_session_params sp = qwen_session_default_params();
  Hostile h;
  char* deep;
  char* tool;
  size_t k;
  memset(&h, 0, sizeof h);
  h.model = (qwen_model*)model;
  sp.context = 2048; /* room for the tools' system prompt */
  CHECK_STATUS(qwen_tokenizer_load(g_model_path, &h.tok), QWEN_OK);
  CHECK_STATUS(qwen_session_create(model, &sp, &h.session), QWEN_OK);
  CHECK_STATUS(qwen_sequence_create(model, sp.context, &h.seq), QWEN_OK);
  if (!h.tok || !h.session || !h.seq) return;

  for (k = 0; k < 2; ++k) {
    /* Nested arrays, and nested objects, as a tool's parameters and as a call's arguments. */
    deep = nested(depths[k], "[", "1", "]");
    tool = tool_with(deep);
    check_tool(&h, "nested arrays", tool, QWEN_ERR_INVALID_ARGUMENT, "tools[0]", "128 levels deep");
    check_arguments(&h, "nested arrays", deep, 1, QWEN_ERR_INVALID_ARGUMENT, "128 levels deep");
    free(tool);
    free(deep);
    deep = nested(depths[k], "{\"a\": ", "{}", "}");
    tool = tool_with(deep);
    check_tool(&h, "nested objects", tool, QWEN_ERR_INVALID_ARGUMENT, "tools[0]", "128 levels deep");
    check_arguments(&h, "nested objects", deep, 1, QWEN_ERR_INVALID_ARGUMENT, "128 levels deep");
    free(tool);
    free(deep);
    /* Never closed: not JSON, but refused as soon as it is too deep as a tool; arguments become
     * a JSON string (too long to generate from in this context, so only rendered). */
    deep = nested(depths[k], "[", "", "");
    tool = tool_with(deep);
    check_tool(&h, "unclosed", tool, QWEN_ERR_INVALID_ARGUMENT, "tools[0]", "128 levels deep");
    check_arguments(&h, "unclosed", deep, 0, QWEN_OK, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": \"[[[[");
    free(tool);
    free(deep);
  }
  /* 128 levels in all are taken, 129 refused (a tool's parameters start 2 levels down). */
  for (k = 0; k < 2; ++k) {
    deep = nested(126 + k, "[", "1", "]");
    tool = tool_with(deep);
    check_tool(&h, "126/127 levels", tool, k == 0 ? QWEN_OK : QWEN_ERR_INVALID_ARGUMENT, "128 levels deep", NULL);
    free(tool);
    free(deep);
    deep = nested(128 + k, "[", "1", "]");
    check_arguments(&h, "128/129 levels", deep, 1, k == 0 ? QWEN_OK : QWEN_ERR_INVALID_ARGUMENT,
                    k == 0 ? "[[[1]]]" : "128 levels deep");
    free(deep);
  }

  /* Bad UTF-8, a NUL byte cutting the text short, numbers past a double's range. */
  check_tool(&h, "bad UTF-8", "{\"type\": \"function\", \"function\": {\"name\": \"f\xff\xfe\"}}",
             QWEN_ERR_INVALID_ARGUMENT, "tools[0]: not valid JSON", "UTF-8");
  check_tool(&h, "NUL byte", "{\"type\": \"function\"\0, \"function\": {\"name\": \"f\"}}", QWEN_ERR_INVALID_ARGUMENT,
             "tools[0]: not valid JSON", "unexpected end of input");
  check_tool(&h, "1e309", "{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"maximum\": 1e309}}}",
             QWEN_ERR_INVALID_ARGUMENT, "tools[0]: not valid JSON", "number overflow");
  tool = tool_with(
      "{\"maximum\": -999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
      "99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
      "99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
      "999999999999999999999999999999999999999999999999999999999999999999999999999999999999999}");
  check_tool(&h, "400 digits", tool, QWEN_ERR_INVALID_ARGUMENT, "tools[0]: not valid JSON", "number overflow");
  free(tool);
  check_tool(&h, "escaped NUL", "{\"type\": \"function\", \"function\": {\"name\": \"f\", \"description\": \"a\\u0000b\"}}",
             QWEN_OK, "", NULL);
  /* Arguments that are not JSON are shown as a string: bad bytes as U+FFFD. */
  check_arguments(&h, "bad UTF-8", "{\"city\": \"\xff\xfe\"}", 1, QWEN_OK, "\"{\\\"city\\\": \\\"\xef\xbf\xbd\xef\xbf\xbd\\\"}\"");
  check_arguments(&h, "1e309", "{\"x\": 1e309}", 1, QWEN_OK, "\"arguments\": \"{\\\"x\\\": 1e309}\"");
  check_arguments(&h, "NUL byte", "{\"city\": \"Paris\"}\0 and more", 1, QWEN_OK, "\"arguments\": {\"city\": \"Paris\"}}");
  check_arguments(&h, "escaped NUL", "{\"city\": \"Pa\\u0000ris\"}", 1, QWEN_OK, "{\"city\": \"Pa\\u0000ris\"}");
  check_arguments(&h, "large integer", "{\"n\": 18446744073709551615, \"m\": -9223372036854775808, \"f\": 1e308}", 1,
                  QWEN_OK, "{\"n\": 18446744073709551615, \"m\": -9223372036854775808, \"f\": 1e+308}");

  qwen_sequence_free(h.seq);
  qwen_session_free(h.session);
  qwen_tokenizer_free(h.tok);
}

static int32_t argmax(const float* v, size_t n) {
  size_t best = 0, i;
  for (i = 1; i < n; ++i) {
    if (v[i] > v[best]) best = i;
  }
  return (int32_t)best;
}

static void test_step_level(const qwen_model* model) {
  qwen_engine* engine = NULL;
  qwen_sequence* seq[3] = {NULL, NULL, NULL};
  qwen_step_input in[2];
  qwen_generation* gen = NULL;
  qwen_generate_params params = greedy_params(6);
  qwen_result r;
  int32_t prompt[32], bad = 999999, rows[2] = {1, 4}, next;
  size_t n = 0, vocab = 0, k;
  float* all = NULL;
  const float* logits;
  const char* text = NULL;
  qwen_message msg = {"user", "Hi there", NULL, 0};
  int steps = 0;

  CHECK_STATUS(qwen_tokenize(model, "The quick brown fox jumps", 25, 0, prompt, 32, &n), QWEN_OK);
  CHECK_STATUS(qwen_engine_create(model, NULL, &engine), QWEN_OK);
  for (k = 0; k < 2; ++k) CHECK_STATUS(qwen_sequence_create(model, 64, &seq[k]), QWEN_OK);
  CHECK(qwen_sequence_capacity(seq[0]) == 64 && qwen_sequence_size(seq[0]) == 0);
  CHECK_STATUS(qwen_sequence_create(model, -1, &seq[2]), QWEN_ERR_INVALID_ARGUMENT);
  CHECK(seq[2] == NULL);
  CHECK_STATUS(qwen_sequence_create(model, 64, &seq[2]), QWEN_OK);

  /* Two sequences in one step, one asking for two rows: the rows equal a lone run's logits. */
  memset(in, 0, sizeof in);
  in[0].sequence = seq[0];
  in[0].tokens = prompt;
  in[0].n_tokens = n;
  in[1].sequence = seq[1];
  in[1].tokens = prompt;
  in[1].n_tokens = 5;
  in[1].logits = QWEN_LOGITS_ROWS;
  in[1].rows = rows;
  in[1].n_rows = 2;
  logits = qwen_sequence_logits(seq[0], &vocab);
  all = (float*)malloc(2 * vocab * sizeof(float));
  in[1].out = all;
  CHECK_STATUS(qwen_engine_step(engine, in, 2), QWEN_OK);
  CHECK(qwen_sequence_size(seq[0]) == (int64_t)n && qwen_sequence_size(seq[1]) == 5);
  memset(in, 0, sizeof in);
  in[0].sequence = seq[2];
  in[0].tokens = prompt;
  in[0].n_tokens = 5;
  CHECK_STATUS(qwen_engine_step(engine, in, 1), QWEN_OK);
  logits = qwen_sequence_logits(seq[2], &vocab);
  CHECK(memcmp(logits, all + vocab, vocab * sizeof(float)) == 0);
  CHECK(qwen_sequence_tokens(seq[2], &k) != NULL && k == 5 && qwen_sequence_tokens(seq[2], &k)[4] == prompt[4]);
  next = argmax(logits, vocab);
  (void)next;

  /* A bad id is refused by input index and changes nothing. */
  in[0].tokens = &bad;
  in[0].n_tokens = 1;
  CHECK_STATUS(qwen_engine_step(engine, in, 1), QWEN_ERR_INVALID_ARGUMENT);
  CHECK(strstr(qwen_last_error(), "step input 0") != NULL);
  CHECK(qwen_sequence_size(seq[2]) == 5);
  CHECK_STATUS(qwen_sequence_truncate(seq[2], 9), QWEN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(qwen_sequence_truncate(seq[2], 2), QWEN_OK);
  CHECK(qwen_sequence_size(seq[2]) == 2);
  CHECK_STATUS(qwen_engine_step(NULL, in, 1), QWEN_ERR_INVALID_ARGUMENT);

  /* A generation driven by hand, its prompt in chunks of 4. */
  CHECK_STATUS(qwen_generation_create_chat(seq[2], &msg, 1, &params, &gen), QWEN_OK);
  while (gen && !qwen_generation_done(gen)) {
    CHECK_STATUS(qwen_generation_input(gen, 4, &in[0]), QWEN_OK);
    CHECK(in[0].n_tokens <= 4 && in[0].sequence == seq[2]);
    CHECK_STATUS(qwen_engine_step(engine, in, 1), QWEN_OK);
    CHECK_STATUS(qwen_generation_advance(gen, &text, &n), QWEN_OK);
    CHECK(text != NULL && strlen(text) == n);
    if (++steps > 100) break;
  }
  CHECK_STATUS(qwen_generation_result(gen, &r), QWEN_OK);
  CHECK(r.n_tokens == 6 && r.finish == QWEN_FINISH_LENGTH);
  qwen_result_free(&r);
  qwen_generation_free(gen);
  gen = NULL;
  CHECK_STATUS(qwen_generation_create_text(seq[2], "", &params, &gen), QWEN_ERR_INVALID_ARGUMENT);
  CHECK(gen == NULL);
  CHECK_STATUS(qwen_generation_create_tokens(seq[2], prompt, 3, &params, &gen), QWEN_OK);
  qwen_generation_cancel(gen);
  CHECK(qwen_generation_done(gen));
  qwen_generation_free(gen);
  CHECK(qwen_generation_done(NULL));

  free(all);
  for (k = 0; k < 3; ++k) qwen_sequence_free(seq[k]);
  qwen_engine_free(engine);
  qwen_sequence_free(NULL);
  qwen_engine_free(NULL);
}

int main(int argc, char** argv) {
  qwen_model* model = NULL;
  qwen_model_params params = qwen_model_default_params();
  if (argc != 2) {
    fprintf(stderr, "usage: %s MODEL.gguf\n", argv[0]);
    return 2;
  }
  g_model_path = argv[1];

  test_errors_without_model();
  test_null_handles();

  params.threads = 2;
  params.context = 256;
  CHECK_STATUS(qwen_model_load(g_model_path, &params, &model), QWEN_OK);
  if (!model) {
    fprintf(stderr, "cannot load %s: %s\n", g_model_path, qwen_last_error());
    return 1;
  }
  test_info(model);
  test_tokenize_round_trip(model);
  test_render_chat(model);
  test_tokenizer_only(model);
  test_step_level(model);
  test_hostile_json(model);
  test_chat(model); /* frees the model */

  printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
