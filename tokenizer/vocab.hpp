// The data a byte-level BPE tokenizer is made of, as stored in tokenizer.json and in GGUF
// (tokenizer.ggml.*). This struct is the contract between the tokenizer, the converter and
// the model loader: each of them fills or reads it, none needs to know where it came from.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qwenedge::tokenizer {

// Values as in GGUF tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,      // special tokens: <|endoftext|>, <|im_start|>, <|im_end|>, ...
  kUserDefined = 4,  // added tokens that are not special
  kUnused = 5,
  kByte = 6,
};

struct Vocab {
  std::vector<std::string> tokens;  // id -> token text in GPT-2 byte-level form (as in the vocab)
  std::vector<TokenType> types;     // id -> type; same size as tokens
  std::vector<std::string> merges;  // in rank order, each "left right"
  int32_t bos_id = -1;              // -1 when absent
  int32_t eos_id = -1;
  int32_t pad_id = -1;
  bool add_bos = false;
  std::string pre = "qwen2";        // pre-tokenizer name (tokenizer.ggml.pre)
  std::string chat_template;        // Jinja source, empty when absent
};

// Reads tokenizer.json (and, when the path is not empty, tokenizer_config.json for the chat
// template, bos/eos/pad). Throws qwenedge::Error naming the file and the field at fault.
Vocab load_vocab_from_hf(const std::string& tokenizer_json_path,
                         const std::string& tokenizer_config_path = "");

}  // namespace qwenedge::tokenizer
