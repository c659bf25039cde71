// The Qwen2 pre-tokenizer: splits normalized text into the pieces that BPE encodes one by one.
//
// It is the hand-written equivalent of the Split regex in Qwen2's tokenizer.json, matched
// leftmost-first at each position, every match kept ("Isolated"):
//
//   (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}
//   | ?[^\s\p{L}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+
//
// \p{L} and \p{N} are the Unicode general categories L and N; \s is the White_Space property
// (as in Oniguruma, which Hugging Face tokenizers use). The contractions match ASCII letters
// of either case only. Every character matches some alternative, so the pieces cover the text.
#pragma once

#include <string_view>
#include <vector>

namespace qwenedge::tokenizer {

// Appends the pieces of `text` to `pieces` (views into `text`, in order, covering it).
void pretokenize_qwen2(std::string_view text, std::vector<std::string_view>& pieces);

}  // namespace qwenedge::tokenizer
