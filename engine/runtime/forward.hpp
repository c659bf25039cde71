// The fast forward pass: SIMD kernels, one parallel step of the object's own thread pool per
// chunk, fp16 KV cache.
// Prefill (many tokens of one sequence) and batched decode (one token of many sequences) are the
// same step: a list of sequences, each with the tokens to append to its own cache.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/runtime/kv_cache.hpp"
#include "engine/runtime/thread_pool.hpp"
#include "engine/runtime/weights.hpp"
#include "kernels/kernels.hpp"

namespace qwenedge::detail {

struct SequenceStep {
  KvCache* cache = nullptr;             // positions cache->size() ... get these tokens
  std::span<const int32_t> tokens;
  // [V] of the last token; [tokens, V] with all_logits; [rows, V] when rows is not empty (strictly
  // increasing indices into tokens). Null: no logits.
  float* logits = nullptr;
  bool all_logits = false;
  std::span<const int32_t> rows;
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
    float* logits;        // where this row's logits go, or null
  };
  // Causal attention work: a tile of up to kAttendTile consecutive tokens of one sequence (they
  // share the widening of each key and value row they read) for one KV head.
  struct AttendItem {
    int64_t t0, nt, g;
  };
  // What one chunk of a step needs besides the weights, built once per chunk before the
  // threads start; its vectors keep their capacity, so a step allocates nothing once warm.
  struct Plan {
    std::span<const Token> tokens;
    std::vector<int64_t> logit_rows;   // rows that want logits, in order
    float* head_out = nullptr;         // [logit_rows, V]: the caller's memory or logits_
    std::vector<int64_t> n_pos;        // [T] positions each token attends to
    std::vector<AttendItem> att_items;
    std::vector<int64_t> att_prefix;   // [items + 1] running cost, to split items by cost
  };
  // The slices of the step's work that one thread owns.
  struct Share {
    int tid, nt;
    int64_t tok_begin, tok_end;    // tokens
    int64_t unit_begin, unit_end;  // Q/K/V heads
    int64_t ffn_begin, ffn_end;    // FFN inner rows
    int64_t att_begin, att_end;    // attention items
  };

  void run_chunk(std::span<const Token> tokens, int threads);
  void plan_chunk(std::span<const Token> tokens);
  Share share(int tid, int nt) const;
  // The phases of one chunk, run by every thread on its share; the layer loop reads like the paper.
  void layers(const Share& s);
  void embed(const Share& s);
  void attention_norm(int64_t l, const Share& s);
  void qkv_rope_cache(int64_t l, const Share& s);
  void attention(int64_t l, const Share& s);
  void attention_output(int64_t l, const Share& s);
  void ffn(int64_t l, const Share& s);
  void head(const Share& s);

  const LoadedModel& m_;
  const kernels::KernelTable* k_;
  int64_t max_tokens_;
  std::vector<Token> step_tokens_;  // every token of the step being run
  Plan plan_;
  std::vector<float> inv_freq_;  // [Dh/2] RoPE inverse frequencies, as the reference computes them
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
  std::vector<std::vector<float>> scores_;  // per thread: attention scratch for the longest cache
  kernels::ActivationBuffer act_d_, act_q_, act_f_;
  // Workers of this object only: two Forwards on two threads never share (or wait for) one.
  std::unique_ptr<detail::ThreadPool> pool_ = std::make_unique<detail::ThreadPool>();
};

}  // namespace qwenedge::detail
