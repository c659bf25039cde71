/* chat_c: the C API — load a model, send one message, stream the answer.
 *   chat_c MODEL.gguf [MESSAGE] [MAX_TOKENS]
 * Build against an installed qwenedge:
 *   cc -std=c99 main.c $(pkg-config --cflags --libs qwenedge) -o chat_c */
#include <stdio.h>
#include <stdlib.h>

#include <qwenedge/qwenedge.h>

static int print_text(const char* text, size_t len, void* user_data) {
  (void)user_data;
  fwrite(text, 1, len, stdout); /* whole UTF-8 characters only */
  fflush(stdout);
  return 0; /* non-zero would stop the generation */
}

int main(int argc, char** argv) {
  qwen_model* model = NULL;
  qwen_session* session = NULL;
  qwen_result result;
  qwen_message message;
  qwen_generate_params params = qwen_generate_default_params();
  qwen_status status;

  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: chat_c MODEL.gguf [MESSAGE] [MAX_TOKENS]\n");
    return 2;
  }
  message.role = "user";
  message.content = argc > 2 ? argv[2] : "Hello! Who are you?";
  message.tool_calls = NULL;
  message.n_tool_calls = 0;
  if (argc > 3) params.max_tokens = atoi(argv[3]);

  status = qwen_model_load(argv[1], NULL, &model);
  if (status != QWEN_OK) {
    fprintf(stderr, "chat_c: %s: %s\n", qwen_status_name(status), qwen_last_error());
    return 1;
  }
  status = qwen_session_create(model, NULL, &session);
  if (status == QWEN_OK) status = qwen_chat(session, &message, 1, &params, print_text, NULL, &result);
  if (status != QWEN_OK) {
    fprintf(stderr, "chat_c: %s: %s\n", qwen_status_name(status), qwen_last_error());
    qwen_session_free(session);
    qwen_model_free(model);
    return 1;
  }
  printf("\n");
  fprintf(stderr, "[%s, %s] finish: %s, %lld prompt tokens, %lld generated, %.1f tokens/s\n",
          qwen_model_get_info(model)->name, qwen_model_get_info(model)->isa, qwen_finish_reason_name(result.finish),
          (long long)result.timings.prompt_tokens, (long long)result.timings.generated_tokens,
          result.timings.decode_tokens_per_s);

  qwen_result_free(&result);
  qwen_session_free(session);
  qwen_model_free(model);
  return 0;
}
