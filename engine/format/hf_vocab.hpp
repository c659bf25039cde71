// A Hugging Face tokenizer directory's vocabulary, padded to the model's embedding rows.
#pragma once

#include <filesystem>

#include "engine/format/model_config.hpp"
#include "tokenizer/vocab.hpp"

namespace qwenedge::detail {

// Reads dir/tokenizer.json (and dir/tokenizer_config.json when present) and names the ids the
// tokenizer never produces "[PAD{id}]" (type unused) up to c.vocab_size, so that the token list
// and the embedding agree in length. Throws kIo when tokenizer.json is missing, kBadModelFile
// when it has more tokens than c.vocab_size.
tokenizer::Vocab load_padded_vocab(const std::filesystem::path& dir, const ModelConfig& c);

}  // namespace qwenedge::detail
