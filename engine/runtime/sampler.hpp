// Choosing the next token from the logits: penalties, temperature, top-k, top-p, min-p, seed.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace qwenedge::detail {

struct SamplingParams {
  float temperature = 1.0f;  // 0 = greedy (argmax)
  int top_k = 0;             // 0 = off
  float top_p = 1.0f;        // 1 = off
  float min_p = 0.0f;        // 0 = off
  float repetition_penalty = 1.0f;  // Hugging Face / CTRL style, over `history`
  float presence_penalty = 0.0f;    // OpenAI style, over `generated`
  float frequency_penalty = 0.0f;   // OpenAI style, over `generated`
  int repeat_last_n = 64;           // -1 = the whole history
  uint64_t seed = 0;
};

// Throws qwenedge::Error(kInvalidArgument) naming the first value out of range.
void validate(const SamplingParams& p);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // Picks a token from logits [V] (modified in place by the penalties). `history` is every
  // token of the sequence so far (prompt and answer), `generated` the answer's tokens.
  int32_t sample(std::span<float> logits, std::span<const int32_t> history, std::span<const int32_t> generated);

 private:
  double uniform();  // [0, 1), from a 64-bit xorshift* generator: the same on every platform

  SamplingParams p_;
  uint64_t state_;
  std::vector<std::pair<float, int32_t>> candidates_;
};

}  // namespace qwenedge::detail
