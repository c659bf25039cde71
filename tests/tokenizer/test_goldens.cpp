// Goldens from an independent implementation of the Hugging Face tokenizer (see
// make_goldens.js): every string must encode to the same ids with special-token text parsed
// ("ids") and not parsed ("ids_plain"), and decode back to its NFC form.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tokenizer/normalize.hpp"
#include "tokenizer_test_util.hpp"

using namespace qwenedge::tokenizer;

TEST_CASE("encode goldens from the reference tokenizer", "[tokenizer][goldens]") {
  QWENEDGE_REQUIRE_QWEN_TOKENIZER();
  const auto path = test::source_dir() / "tests/tokenizer/goldens/encode.json";
  const nlohmann::json goldens = nlohmann::json::parse(test::read_file(path));
  REQUIRE(goldens.size() >= 300);
  const Tokenizer& tok = test::qwen_tokenizer();
  size_t failures = 0;
  for (const auto& g : goldens) {
    const std::string text = g["text"].get<std::string>();
    const auto ids = g["ids"].get<std::vector<int32_t>>();
    const auto ids_plain = g["ids_plain"].get<std::vector<int32_t>>();
    INFO("text: '" << text << "'");
    const auto got = tok.encode(text, {.parse_special = true});
    const auto got_plain = tok.encode(text, {.parse_special = false});
    CHECK(got == ids);
    CHECK(got_plain == ids_plain);
    CHECK(tok.decode(got_plain) == normalize_nfc(text));
    if (got != ids || got_plain != ids_plain) ++failures;
  }
  INFO(failures << " of " << goldens.size() << " strings differ");
  CHECK(failures == 0);
}
