#include "engine/format/vocab_gguf.hpp"

#include "qwenedge/error.hpp"

namespace qwenedge::detail {
namespace {

int32_t optional_id(const gguf::File& f, std::string_view key, size_t n_tokens) {
  if (!f.find(key)) return -1;
  const uint64_t id = f.get_u64(key);
  if (id >= n_tokens) {
    throw Error(ErrorCode::kBadModelFile, f.path() + ": " + std::string(key) + " = " + std::to_string(id) +
                                              " is not a token id (vocabulary has " + std::to_string(n_tokens) + ")");
  }
  return static_cast<int32_t>(id);
}

}  // namespace

tokenizer::Vocab read_vocab(const gguf::File& f) {
  const std::string_view model = f.get_string("tokenizer.ggml.model");
  if (model != "gpt2") {
    throw Error(ErrorCode::kUnsupported, f.path() + ": tokenizer.ggml.model is \"" + std::string(model) +
                                             "\", only byte-level BPE (\"gpt2\") is supported");
  }
  tokenizer::Vocab v;
  if (f.find("tokenizer.ggml.pre")) v.pre = std::string(f.get_string("tokenizer.ggml.pre"));

  const auto& tokens = f.get_string_array("tokenizer.ggml.tokens");
  v.tokens.assign(tokens.begin(), tokens.end());
  if (v.tokens.empty()) throw Error(ErrorCode::kBadModelFile, f.path() + ": tokenizer.ggml.tokens is empty");

  if (f.find("tokenizer.ggml.token_type")) {
    const std::vector<int64_t> types = f.get_int_array("tokenizer.ggml.token_type");
    if (types.size() != v.tokens.size()) {
      throw Error(ErrorCode::kBadModelFile, f.path() + ": tokenizer.ggml.token_type has " + std::to_string(types.size()) +
                                                " entries, tokenizer.ggml.tokens has " + std::to_string(v.tokens.size()));
    }
    v.types.reserve(types.size());
    for (size_t i = 0; i < types.size(); ++i) {
      if (types[i] < 1 || types[i] > 6) {
        throw Error(ErrorCode::kBadModelFile, f.path() + ": tokenizer.ggml.token_type[" + std::to_string(i) +
                                                  "] = " + std::to_string(types[i]) + " is not a token type (1..6)");
      }
      v.types.push_back(static_cast<tokenizer::TokenType>(types[i]));
    }
  } else {
    v.types.assign(v.tokens.size(), tokenizer::TokenType::kNormal);
  }

  const auto& merges = f.get_string_array("tokenizer.ggml.merges");
  v.merges.assign(merges.begin(), merges.end());

  v.bos_id = optional_id(f, "tokenizer.ggml.bos_token_id", v.tokens.size());
  v.eos_id = optional_id(f, "tokenizer.ggml.eos_token_id", v.tokens.size());
  v.pad_id = optional_id(f, "tokenizer.ggml.padding_token_id", v.tokens.size());
  if (f.find("tokenizer.ggml.add_bos_token")) v.add_bos = f.get_bool("tokenizer.ggml.add_bos_token");
  if (f.find("tokenizer.chat_template")) v.chat_template = std::string(f.get_string("tokenizer.chat_template"));
  return v;
}

void write_vocab(gguf::Writer& w, const tokenizer::Vocab& v) {
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", v.pre);
  w.set_string_array("tokenizer.ggml.tokens", v.tokens);
  std::vector<int32_t> types;
  types.reserve(v.types.size());
  for (tokenizer::TokenType t : v.types) types.push_back(static_cast<int32_t>(t));
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_string_array("tokenizer.ggml.merges", v.merges);
  if (v.bos_id >= 0) w.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos_id));
  if (v.eos_id >= 0) w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos_id));
  if (v.pad_id >= 0) w.set_u32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(v.pad_id));
  w.set_bool("tokenizer.ggml.add_bos_token", v.add_bos);
  if (!v.chat_template.empty()) w.set_string("tokenizer.chat_template", v.chat_template);
}

}  // namespace qwenedge::detail
