// The public qwen2 tokenizer vectors (ggml-vocab-qwen2.gguf.inp/.out): each input, separated
// by "\n__ggml_vocab_test__\n", must encode to the ids on the matching output line.
#include <catch2/catch.hpp>
#include <sstream>

#include "tokenizer/normalize.hpp"
#include "tokenizer_test_util.hpp"

using namespace qwenedge::tokenizer;

TEST_CASE("ggml qwen2 vocab test vectors", "[tokenizer][vectors]") {
  QWENEDGE_REQUIRE_QWEN_TOKENIZER();
  const auto dir = test::shared_dir() / "testdata" / "tokenizer";
  if (!std::filesystem::exists(dir / "ggml-vocab-qwen2.gguf.inp")) {
    WARN("SKIPPED: no test vectors in " << dir.string());
    return;
  }
  const std::string inp = test::read_file(dir / "ggml-vocab-qwen2.gguf.inp");
  const std::string out = test::read_file(dir / "ggml-vocab-qwen2.gguf.out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  for (size_t pos = 0; pos < inp.size();) {
    const size_t next = inp.find(sep, pos);
    REQUIRE(next != std::string::npos);
    inputs.push_back(inp.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::vector<std::vector<int32_t>> expected;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream ids(line);
    std::vector<int32_t> v;
    for (int32_t id; ids >> id;) v.push_back(id);
    expected.push_back(v);
  }
  REQUIRE(inputs.size() == expected.size());
  REQUIRE(inputs.size() >= 40);
  const Tokenizer& tok = test::qwen_tokenizer();
  for (size_t i = 0; i < inputs.size(); ++i) {
    INFO("vector " << i << ": '" << inputs[i] << "'");
    CHECK(tok.encode(inputs[i]) == expected[i]);
    CHECK(tok.decode(tok.encode(inputs[i])) == normalize_nfc(inputs[i]));
  }
}
