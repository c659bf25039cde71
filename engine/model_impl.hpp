// What a qwenedge::Model holds: the mapped file and everything derived from it at load.
#pragma once

#include "engine/weights.hpp"
#include "qwenedge/model.hpp"
#include "tokenizer/tokenizer.hpp"

namespace qwenedge::detail {

struct ModelImpl {
  LoadedModel loaded;
  tokenizer::Tokenizer tokenizer;
  LoadOptions options;
  ModelInfo info;
};

}  // namespace qwenedge::detail
