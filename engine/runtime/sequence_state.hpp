// What a qwenedge::Sequence holds: the KV cache, the tokens in it, the logits of its last step.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/runtime/kv_cache.hpp"
#include "engine/runtime/model_impl.hpp"
#include "qwenedge/step.hpp"

namespace qwenedge::detail {

struct SequenceState {
  SequenceState(const Model& mdl, int64_t context)
      : model(mdl), m(impl(mdl)), cache(m.loaded.config, context), logits(static_cast<size_t>(m.loaded.config.vocab_size)) {
    history.reserve(static_cast<size_t>(context));  // appending a token never allocates
  }

  static SequenceState& of(Sequence& s) { return *s.s_; }
  static const SequenceState& of(const Sequence& s) { return *s.s_; }

  Model model;  // keeps the weights alive
  const ModelImpl& m;
  KvCache cache;
  std::vector<int32_t> history;  // the tokens in the cache, oldest first
  std::vector<float> logits;     // [V] of the last token of the last step that asked for them
};

}  // namespace qwenedge::detail
