// The nesting limit on JSON from outside (qwenedge/limits.hpp), for the tokenizer's readers: the
// chat template's tojson and tokenizer.json. nlohmann::json parses and destroys values without
// recursion, so a document is refused as the parser meets its first container too deep, before
// any value of it is built that deep.
#pragma once

#include "qwenedge/limits.hpp"

namespace qwenedge::tokenizer {

using qwenedge::kMaxJsonDepth;
using qwenedge::opens_too_deep;

}  // namespace qwenedge::tokenizer
