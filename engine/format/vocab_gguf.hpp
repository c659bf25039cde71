// The tokenizer's Vocab <-> GGUF metadata (tokenizer.ggml.*, tokenizer.chat_template).
#pragma once

#include "engine/format/gguf.hpp"
#include "tokenizer/vocab.hpp"

namespace qwenedge::detail {

// Reads tokenizer.ggml.{model,pre,tokens,token_type,merges,bos_token_id,eos_token_id,
// padding_token_id,add_bos_token} and tokenizer.chat_template. Throws kBadModelFile naming the
// key when the tokenizer is missing, is not a byte-level BPE ("gpt2"), or is inconsistent.
tokenizer::Vocab read_vocab(const gguf::File& file);

// Writes the same keys. tokenizer.ggml.model is always "gpt2".
void write_vocab(gguf::Writer& writer, const tokenizer::Vocab& vocab);

}  // namespace qwenedge::detail
