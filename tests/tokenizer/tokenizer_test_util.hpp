// Shared helpers for the tokenizer tests: where the shared data lives and a Qwen2.5 tokenizer
// loaded once from it.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tokenizer/tokenizer.hpp"
#include "tokenizer/vocab.hpp"

namespace qwenedge::tokenizer::test {

inline std::filesystem::path shared_dir() { return QWENEDGE_SHARED_DIR; }
inline std::filesystem::path source_dir() { return QWENEDGE_SOURCE_DIR; }
inline std::filesystem::path qwen_dir() { return shared_dir() / "qwen2.5-0.5b-instruct"; }

inline bool have_qwen_tokenizer() { return std::filesystem::exists(qwen_dir() / "tokenizer.json"); }

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The Qwen2.5 vocab and tokenizer, loaded on first use (the tests that call these check
// have_qwen_tokenizer() first and skip with a message otherwise).
inline const Vocab& qwen_vocab() {
  static const Vocab vocab = load_vocab_from_hf((qwen_dir() / "tokenizer.json").string(),
                                                (qwen_dir() / "tokenizer_config.json").string());
  return vocab;
}
inline const Tokenizer& qwen_tokenizer() {
  static const Tokenizer tok(qwen_vocab());
  return tok;
}

#define QWENEDGE_REQUIRE_QWEN_TOKENIZER()                                                           \
  do {                                                                                              \
    if (!::qwenedge::tokenizer::test::have_qwen_tokenizer()) {                                      \
      WARN("SKIPPED: no Qwen2.5 tokenizer at " << ::qwenedge::tokenizer::test::qwen_dir().string()); \
      return;                                                                                       \
    }                                                                                               \
  } while (0)

}  // namespace qwenedge::tokenizer::test
