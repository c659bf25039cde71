// Logits of a whole token sequence from the reference and the fast forward pass, shared by the
// engine tests that compare them.
#pragma once

#include <span>
#include <vector>

#include "engine/runtime/forward.hpp"
#include "engine/runtime/forward_ref.hpp"
#include "engine/runtime/kv_cache.hpp"
#include "engine/runtime/weights.hpp"
#include "kernels/kernels.hpp"

namespace qwenedge::test {

using namespace qwenedge::detail;

// [T, V]: every position's logits, the scalar reference in one prefill.
inline std::vector<float> reference_logits(const LoadedModel& m, const std::vector<int32_t>& ids) {
  RefKvCache cache(m.config, static_cast<int64_t>(ids.size()));
  std::vector<float> logits(ids.size() * static_cast<size_t>(m.config.vocab_size));
  forward_reference(m, cache, ids, logits.data(), true);
  return logits;
}

// [T, V]: the fast forward pass with kernels `k` on `threads` threads, prefilled in chunks of
// `chunk` tokens. `cache_size` receives the cache's size afterwards, when asked.
inline std::vector<float> fast_logits(const LoadedModel& m, const std::vector<int32_t>& ids, const kernels::KernelTable& k,
                                      int threads, int64_t chunk, int64_t* cache_size = nullptr) {
  Forward f(m, chunk, &k);
  KvCache cache(m.config, static_cast<int64_t>(ids.size()));
  std::vector<float> logits(ids.size() * static_cast<size_t>(m.config.vocab_size));
  const SequenceStep step{&cache, ids, logits.data(), true};
  f.run(std::span<const SequenceStep>(&step, 1), threads);
  if (cache_size) *cache_size = cache.size();
  return logits;
}

}  // namespace qwenedge::test
