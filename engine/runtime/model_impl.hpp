// What a qwenedge::Model holds: the mapped file and everything derived from it at load.
#pragma once

#include <memory>

#include "engine/runtime/weights.hpp"
#include "qwenedge/model.hpp"
#include "qwenedge/tokenizer.hpp"
#include "tokenizer/tokenizer.hpp"

namespace qwenedge::detail {

// A public Tokenizer's internals.
struct TokenizerAccess {
  static const tokenizer::Tokenizer& impl(const qwenedge::Tokenizer& t) { return *t.t_; }
  static qwenedge::Tokenizer make(std::shared_ptr<const tokenizer::Tokenizer> t) { return qwenedge::Tokenizer(std::move(t)); }
};

struct ModelImpl {
  ModelImpl(LoadedModel l, qwenedge::Tokenizer t, LoadOptions o, ModelInfo i)
      : loaded(std::move(l)), public_tokenizer(std::move(t)), tokenizer(TokenizerAccess::impl(public_tokenizer)),
        options(o), info(std::move(i)) {}

  LoadedModel loaded;
  qwenedge::Tokenizer public_tokenizer;   // what Model::tokenizer() hands out
  const tokenizer::Tokenizer& tokenizer;  // the BPE inside it
  LoadOptions options;
  ModelInfo info;
};

// The library's own way in: a Model's internals, for the engine's sources only.
struct ModelAccess {
  static const ModelImpl& impl(const Model& m) { return *m.impl_; }
  static const std::shared_ptr<const ModelImpl>& shared(const Model& m) { return m.impl_; }
};
inline const ModelImpl& impl(const Model& m) { return ModelAccess::impl(m); }

}  // namespace qwenedge::detail
