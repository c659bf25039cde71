// The scalar fp32 reference forward pass of Qwen2: obviously correct, the oracle that every
// optimized path is tested against. Quantized weights are decoded row by row on the fly.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/runtime/weights.hpp"

namespace qwenedge::detail {

// fp32 keys and values of every position seen so far, per layer.
struct RefKvCache {
  int64_t capacity = 0;  // positions
  int64_t n = 0;         // positions filled
  int64_t kv_dim = 0;    // Hkv·Dh
  std::vector<std::vector<float>> k;  // [L][capacity, Hkv·Dh]
  std::vector<std::vector<float>> v;  // [L][capacity, Hkv·Dh]

  RefKvCache(const ModelConfig& c, int64_t capacity);
};

// Runs `tokens` at positions cache.n, cache.n+1, ..., appends their keys and values to the
// cache and writes logits: [tokens.size(), V] when all_logits, else only the last row [V].
// Throws kInvalidArgument for a token id out of range or a full cache.
void forward_reference(const LoadedModel& model, RefKvCache& cache, std::span<const int32_t> tokens,
                       float* logits, bool all_logits);

}  // namespace qwenedge::detail
