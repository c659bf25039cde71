/* batch_c: the C API's step level — several prompts of different lengths decoded together, one
 * qwen_engine_step for all of them per token, greedy, each checked against the same prompt
 * decoded alone.
 *   batch_c MODEL.gguf [MAX_TOKENS]
 * Build against an installed qwenedge:
 *   cc -std=c99 batch.c $(pkg-config --cflags --libs qwenedge) -o batch_c */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qwenedge/qwenedge.h>

#define N_PROMPTS 3
#define MAX_ANSWER 256

static const char* const kPrompts[N_PROMPTS] = {
    "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nName three colours of the rainbow.<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nWhy is the sky blue? Explain it to a child "
    "in two sentences.<|im_end|>\n<|im_start|>assistant\n",
};

static int fail(const char* what, qwen_status status) {
  fprintf(stderr, "batch_c: %s: %s: %s\n", what, qwen_status_name(status), qwen_last_error());
  return 1;
}

static int32_t argmax(const float* v, size_t n) {
  size_t best = 0, i;
  for (i = 1; i < n; ++i) {
    if (v[i] > v[best]) best = i;
  }
  return (int32_t)best;
}

/* Greedy answers of `n` prompts decoded together: answers[i][0..lens[i]). */
static int decode(qwen_model* model, qwen_engine* engine, const int* which, int n, int max_tokens,
                  int32_t answers[][MAX_ANSWER], int* lens) {
  qwen_sequence* seqs[N_PROMPTS] = {NULL};
  qwen_step_input inputs[N_PROMPTS];
  int32_t prompt[1024], next[N_PROMPTS];
  size_t n_prompt, vocab;
  int i, t, rc = 0;
  qwen_status status;

  memset(inputs, 0, sizeof inputs);
  for (i = 0; i < n && rc == 0; ++i) {
    status = qwen_sequence_create(model, 1024, &seqs[i]);
    if (status != QWEN_OK) rc = fail("qwen_sequence_create", status);
  }
  /* Step 0: every prompt whole, in one step; then one token of each per step. */
  for (t = 0; t <= max_tokens && rc == 0; ++t) {
    for (i = 0; i < n && rc == 0; ++i) {
      inputs[i].sequence = seqs[i];
      inputs[i].logits = QWEN_LOGITS_LAST;
      if (t == 0) {
        status = qwen_tokenize(model, kPrompts[which[i]], strlen(kPrompts[which[i]]), 1, prompt, 1024, &n_prompt);
        if (status != QWEN_OK) rc = fail("qwen_tokenize", status);
        /* The prompt lives in `prompt` only for this call: copy it to the answers' space. */
        memcpy(answers[i], prompt, n_prompt * sizeof(int32_t));
        inputs[i].tokens = answers[i];
        inputs[i].n_tokens = n_prompt;
      } else {
        inputs[i].tokens = &next[i];
        inputs[i].n_tokens = 1;
      }
    }
    if (rc == 0 && t > 0) {
      for (i = 0; i < n; ++i) answers[i][t - 1] = next[i];
    }
    if (rc != 0 || t == max_tokens) break;
    status = qwen_engine_step(engine, inputs, (size_t)n);
    if (status != QWEN_OK) rc = fail("qwen_engine_step", status);
    for (i = 0; i < n && rc == 0; ++i) {
      const float* logits = qwen_sequence_logits(seqs[i], &vocab); /* sets vocab: call it first */
      next[i] = argmax(logits, vocab);
    }
  }
  for (i = 0; i < n; ++i) {
    lens[i] = max_tokens;
    qwen_sequence_free(seqs[i]);
  }
  return rc;
}

int main(int argc, char** argv) {
  static int32_t together[N_PROMPTS][MAX_ANSWER], single[1][MAX_ANSWER];
  int lens[N_PROMPTS], one_len, all[N_PROMPTS] = {0, 1, 2}, i, same = 0, equal;
  int max_tokens = argc > 2 ? atoi(argv[2]) : 16;
  qwen_model* model = NULL;
  qwen_engine* engine = NULL;
  qwen_status status;

  if (argc < 2 || argc > 3 || max_tokens < 1 || max_tokens > MAX_ANSWER) {
    fprintf(stderr, "usage: batch_c MODEL.gguf [MAX_TOKENS (1..%d)]\n", MAX_ANSWER);
    return 2;
  }
  status = qwen_model_load(argv[1], NULL, &model);
  if (status != QWEN_OK) return fail("qwen_model_load", status);
  status = qwen_engine_create(model, NULL, &engine);
  if (status != QWEN_OK) {
    qwen_model_free(model);
    return fail("qwen_engine_create", status);
  }
  if (decode(model, engine, all, N_PROMPTS, max_tokens, together, lens) == 0) {
    for (i = 0; i < N_PROMPTS; ++i) {
      if (decode(model, engine, &all[i], 1, max_tokens, single, &one_len) != 0) break;
      equal = memcmp(single[0], together[i], (size_t)max_tokens * sizeof(int32_t)) == 0;
      same += equal;
      printf("[%d] %s\n", i, equal ? "same tokens as alone" : "DIFFERS from alone");
    }
  }
  qwen_engine_free(engine);
  qwen_model_free(model);
  fprintf(stderr, "finish: %d of %d answers equal to their sequence decoded alone\n", same, N_PROMPTS);
  return same == N_PROMPTS ? 0 : 1;
}
