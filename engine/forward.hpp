// The fast forward pass: SIMD kernels, one parallel step of the object's own thread pool per
// chunk, fp16 KV cache.
// Prefill (many tokens of one sequence) and batched decode (one token of many sequences) are the
// same step: a list of sequences, each with the tokens to append to its own cache.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/kv_cache.hpp"
#include "engine/thread_pool.hpp"
#include "engine/weights.hpp"
#include "kernels/kernels.hpp"

namespace qwenedge {

struct SequenceStep {
  KvCache* cache = nullptr;             // positions cache->size() ... get these tokens
  std::span<const int32_t> tokens;
  float* logits = nullptr;              // [V] of the last token, or [tokens, V] with all_logits
  bool all_logits = false;
};

class Forward {
 public:
  // Scratch for up to `max_tokens` tokens per step (longer steps are split). `kernels` defaults
  // to the ISA chosen at start-up (QWENEDGE_ISA or the best the CPU runs).
  explicit Forward(const LoadedModel& model, int64_t max_tokens = 512,
                   const kernels::KernelTable* kernels = nullptr);

  // Appends every sequence's tokens to its cache and writes the logits it asks for, on `threads`
  // threads (the caller and threads - 1 workers the object starts once and keeps). The results
  // do not depend on `threads`. One call at a time per object.
  // Throws kInvalidArgument for a bad token id or a cache without room.
  void run(std::span<const SequenceStep> steps, int threads);

  const kernels::KernelTable& kernels() const { return *k_; }

 private:
  struct Token {          // one row of the step's activations
    KvCache* cache;
    int32_t id;
    int64_t pos;
    int64_t logit_row;    // row of the step's logits output, or -1
    float* logits;        // where that row goes
  };
  void run_chunk(std::span<const Token> tokens, int threads);

  const LoadedModel& m_;
  const kernels::KernelTable* k_;
  int64_t max_tokens_;
  // Activations for up to max_tokens_ rows.
  std::vector<float> x_;     // [T, D] residual stream
  std::vector<float> xn_;    // [T, D] normed
  std::vector<float> q_;     // [T, H·Dh]
  std::vector<float> kv_;    // [T, 2·Hkv·Dh] new keys then values
  std::vector<float> att_;   // [T, H·Dh]
  std::vector<float> gate_;  // [T, F]
  std::vector<float> up_;    // [T, F]
  std::vector<float> out_;   // [T, D]
  std::vector<float> logits_;// [T, V] staging for rows that want logits
  std::vector<float> rope_;  // [T, Dh] cos | sin of each token's position
  kernels::ActivationBuffer act_d_, act_q_, act_f_;
  // Workers of this object only: two Forwards on two threads never share (or wait for) one.
  std::unique_ptr<detail::ThreadPool> pool_ = std::make_unique<detail::ThreadPool>();
};

}  // namespace qwenedge
