// The tokenizer loaded from GGUF metadata (engine/format/vocab_gguf.hpp) is the tokenizer loaded from
// tokenizer.json: same vocab, same ids on every golden.
#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>

#include "engine/format/gguf.hpp"
#include "engine/format/vocab_gguf.hpp"
#include "tokenizer_test_util.hpp"

using namespace qwenedge;
using namespace qwenedge::detail;
using namespace qwenedge::tokenizer;

namespace {

std::filesystem::path gguf_path() {
  return std::filesystem::path(QWENEDGE_BINARY_DIR) / "tokenizer_test_tmp" / "qwen2.5-tokenizer.gguf";
}

void write_tokenizer_gguf() {
  std::filesystem::create_directories(gguf_path().parent_path());
  gguf::Writer w(gguf_path().string());
  w.set_string("general.architecture", "qwen2");
  write_vocab(w, test::qwen_vocab());
  w.finish();
}

}  // namespace

TEST_CASE("write a GGUF file holding the Qwen2.5 tokenizer", "[tokenizer][gguf][write]") {
  QWENEDGE_REQUIRE_QWEN_TOKENIZER();
  write_tokenizer_gguf();
  CHECK(std::filesystem::file_size(gguf_path()) > 1000000);
}

TEST_CASE("tokenizer from GGUF equals tokenizer from tokenizer.json", "[tokenizer][gguf]") {
  QWENEDGE_REQUIRE_QWEN_TOKENIZER();
  write_tokenizer_gguf();
  const auto t0 = std::chrono::steady_clock::now();
  const gguf::File file = gguf::File::open(gguf_path().string());
  const Vocab vocab = read_vocab(file);
  const Tokenizer tok(vocab);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  WARN("GGUF open + read_vocab + Tokenizer: " << ms << " ms");

  const Vocab& ref = test::qwen_vocab();
  CHECK(vocab.tokens == ref.tokens);
  CHECK(vocab.types == ref.types);
  CHECK(vocab.merges == ref.merges);
  CHECK(vocab.eos_id == ref.eos_id);
  CHECK(vocab.pad_id == ref.pad_id);
  CHECK(vocab.chat_template == ref.chat_template);

  const nlohmann::json goldens =
      nlohmann::json::parse(test::read_file(test::source_dir() / "tests/tokenizer/goldens/encode.json"));
  for (const auto& g : goldens) {
    const std::string text = g["text"].get<std::string>();
    INFO("text: '" << text << "'");
    CHECK(tok.encode(text, {.parse_special = true}) == g["ids"].get<std::vector<int32_t>>());
    CHECK(tok.encode(text) == g["ids_plain"].get<std::vector<int32_t>>());
  }
}
