// Unicode layer: NFC against the Unicode conformance file, the generated property tables, the
// Qwen2 pre-tokenizer split, and the defined behaviour on invalid UTF-8.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "tokenizer/normalize.hpp"
#include "tokenizer/pretokenize.hpp"
#include "tokenizer/unicode.hpp"
#include "tokenizer/utf8.hpp"
#include "tokenizer_test_util.hpp"

using namespace qwenedge::tokenizer;

namespace {

std::string utf8_of(const std::vector<uint32_t>& cps) {
  std::string s;
  for (uint32_t cp : cps) detail::append_utf8(s, cp);
  return s;
}

std::string parse_field(const std::string& field) {
  std::istringstream in(field);
  std::vector<uint32_t> cps;
  std::string hex;
  while (in >> hex) cps.push_back(static_cast<uint32_t>(std::stoul(hex, nullptr, 16)));
  return utf8_of(cps);
}

std::vector<std::string> split(std::string_view text) {
  std::vector<std::string_view> pieces;
  pretokenize_qwen2(text, pieces);
  return {pieces.begin(), pieces.end()};
}

}  // namespace

TEST_CASE("NFC conforms to NormalizationTest.txt", "[tokenizer][unicode]") {
  const std::filesystem::path path = QWENEDGE_NORMALIZATION_TEST;
  if (!std::filesystem::exists(path)) {
    WARN("SKIPPED: " << path.string() << " not found (Debian package unicode-data)");
    return;
  }
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  if (line.find(std::string("NormalizationTest-") + unicode_version()) == std::string::npos) {
    WARN("SKIPPED: " << path.string() << " is not for Unicode " << unicode_version() << ": " << line);
    return;
  }
  size_t cases = 0;
  bool part1 = false;
  std::set<uint32_t> part1_cps;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '@') {
      part1 = line.rfind("@Part1", 0) == 0;
      continue;
    }
    std::vector<std::string> c;
    std::istringstream fields(line.substr(0, line.find('#')));
    for (std::string f; std::getline(fields, f, ';');) c.push_back(parse_field(f));
    REQUIRE(c.size() >= 5);
    if (part1) part1_cps.insert(static_cast<uint32_t>(std::stoul(line, nullptr, 16)));
    INFO("line: " << line);
    CHECK(normalize_nfc(c[0]) == c[1]);
    CHECK(normalize_nfc(c[1]) == c[1]);
    CHECK(normalize_nfc(c[2]) == c[1]);
    CHECK(normalize_nfc(c[3]) == c[3]);
    CHECK(normalize_nfc(c[4]) == c[3]);
    ++cases;
  }
  CHECK(cases > 15000);
  // Every code point not listed in part 1 is its own NFC.
  size_t unchanged = 0;
  for (uint32_t cp = 0; cp < 0x110000; ++cp) {
    if ((cp >= 0xD800 && cp < 0xE000) || part1_cps.count(cp)) continue;
    const std::string s = utf8_of({cp});
    if (normalize_nfc(s) != s) FAIL("U+" << std::hex << cp << " changed by NFC");
    ++unchanged;
  }
  CHECK(unchanged > 1000000);
}

TEST_CASE("generated property tables", "[tokenizer][unicode]") {
  using namespace detail::ucd;
  CHECK(std::string(unicode_version()) == "15.0.0");
  auto flags = [](uint32_t cp) { return detail::cp_flags(cp); };
  CHECK(flags('a') & kFlagLetter);
  CHECK(flags(0x4E2D) & kFlagLetter);     // 中
  CHECK(flags(0x20000) & kFlagLetter);    // CJK extension B
  CHECK(flags(0x3007) & kFlagNumber);     // 〇 is Nl
  CHECK(flags(0x00BD) & kFlagNumber);     // ½ is No
  CHECK(flags(0x0661) & kFlagNumber);     // Arabic-Indic one
  CHECK(flags(0x0085) & kFlagSpace);      // NEL is White_Space
  CHECK(!(flags(0xFEFF) & kFlagSpace));   // BOM is not
  CHECK(!(flags(0x200B) & kFlagSpace));   // nor ZERO WIDTH SPACE
  CHECK(flags(0x3000) & kFlagSpace);
  CHECK(flags(0x0301) & kFlagCcc);
  CHECK(flags(0x0301) & kFlagNfcQc);      // may compose with what precedes
  CHECK(!(flags(0x093F) & kFlagLetter));  // Devanagari vowel sign: a mark, not a letter
  CHECK(flags(0x1F600) == 0);             // emoji: So
  CHECK(detail::cp_flags(detail::kInvalidByteBase + 0xFF) == 0);
  CHECK(detail::combining_class(0x0301) == 230);
  CHECK(detail::combining_class(0x0323) == 220);
  CHECK(detail::combining_class('a') == 0);
}

TEST_CASE("Qwen2 pre-tokenizer split", "[tokenizer][unicode]") {
  using V = std::vector<std::string>;
  CHECK(split("Hello world") == V{"Hello", " world"});
  CHECK(split("I'm you're he'LL") == V{"I", "'m", " you", "'re", " he", "'LL"});
  CHECK(split("'sa") == V{"'s", "a"});
  CHECK(split("x \u017fy") == V{"x", " \u017fy"});
  CHECK(split("'\u017f") == V{"'\u017f"});  // contractions are ASCII-only, as in the reference
  CHECK(split("12345") == V{"1", "2", "3", "4", "5"});
  CHECK(split("a  b") == V{"a", " ", " b"});
  CHECK(split("a   ") == V{"a", "   "});
  CHECK(split("\n\n  x") == V{"\n\n", " ", " x"});
  CHECK(split(" \n\n x") == V{" \n\n", " x"});
  CHECK(split("a\r\n\r\nb") == V{"a", "\r\n\r\n", "b"});
  CHECK(split("...\n\nx") == V{"...\n\n", "x"});
  CHECK(split(" ...x") == V{" ...", "x"});
  CHECK(split(".x") == V{".x"});
  CHECK(split("\tx") == V{"\tx"});
  CHECK(split("\t1") == V{"\t", "1"});
  CHECK(split("中文，你好") == V{"中文", "，你好"});
  CHECK(split("e\xCC\x81") == V{"e", "\xCC\x81"});  // a mark is not a letter (text arrives in NFC)
  // U+0085 and U+2028 are White_Space; U+FEFF is not.
  CHECK(split("a\u0085b") == V{"a", "\u0085b"});
  CHECK(split("a\u0085\u0085b") == V{"a", "\u0085", "\u0085b"});
  CHECK(split("a\u0085 1") == V{"a", "\u0085", " ", "1"});
  CHECK(split("a\ufeff1") == V{"a", "\ufeff", "1"});
  CHECK(split("a \ufeff") == V{"a", " \ufeff"});
  CHECK(split("\u2028\n") == V{"\u2028\n"});
  // Invalid bytes are "other" characters.
  CHECK(split("a\xFF\xFE b") == V{"a", "\xFF\xFE", " b"});
  CHECK(split("\xFFx") == V{"\xFFx"});
  CHECK(split("").empty());
}

TEST_CASE("reference-tokenizer ids for characters the JavaScript reference treats differently",
          "[tokenizer][unicode]") {
  QWENEDGE_REQUIRE_QWEN_TOKENIZER();
  const Tokenizer& tok = test::qwen_tokenizer();
  // Hugging Face (Oniguruma) treats U+0085 as \s and U+FEFF as not; the pieces above follow
  // that, so the ids are those of encoding each piece on its own.
  for (const std::string text : {"a\u0085b", "x\u0085\u0085 y", "a\ufeff1", "\ufeffhello"}) {
    std::vector<int32_t> by_piece;
    for (const std::string& piece : split(text)) {
      const auto ids = tok.encode(piece);
      by_piece.insert(by_piece.end(), ids.begin(), ids.end());
    }
    CHECK(tok.encode(text) == by_piece);
  }
}

TEST_CASE("invalid UTF-8 round-trips through encode and decode", "[tokenizer][unicode]") {
  QWENEDGE_REQUIRE_QWEN_TOKENIZER();
  const Tokenizer& tok = test::qwen_tokenizer();
  const std::vector<std::string> samples = {"\xFF", "abc\x80", "\xC3", "\xE4\xB8", "\xED\xA0\x80", "\xC0\xAF",
                                            "e\xCC\x81\xFF\xCC\x81", "\xF4\x90\x80\x80 x", std::string("a\0b", 3)};
  for (const std::string& s : samples) {
    const auto ids = tok.encode(s);
    CHECK(tok.decode(ids, {.raw_bytes = true}) == normalize_nfc(s));
    CHECK(is_valid_utf8(tok.decode(ids)));
    CHECK(tok.decode(ids) == to_valid_utf8(normalize_nfc(s)));
  }
  // A mark after an invalid byte does not compose across it.
  CHECK(normalize_nfc("e\xFF\xCC\x81") == "e\xFF\xCC\x81");
  std::mt19937 rng(7);
  for (int iter = 0; iter < 2000; ++iter) {
    std::string s(1 + rng() % 40, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 4 == 0 ? rng() % 128 : 128 + rng() % 128);
    const auto ids = tok.encode(s, {.parse_special = (iter % 2) == 0});
    REQUIRE(tok.decode(ids, {.raw_bytes = true}) == normalize_nfc(s));
  }
}

TEST_CASE("decode(encode(s)) == NFC(s) for random valid text", "[tokenizer][unicode]") {
  QWENEDGE_REQUIRE_QWEN_TOKENIZER();
  const Tokenizer& tok = test::qwen_tokenizer();
  std::mt19937 rng(99);
  // Code points from everywhere, marks and Hangul jamo included, so normalization has work.
  const std::vector<std::pair<uint32_t, uint32_t>> ranges = {
      {0x20, 0x7E}, {0xA0, 0x24F}, {0x300, 0x36F}, {0x370, 0x3FF}, {0x590, 0x5FF}, {0x900, 0x97F},
      {0xE00, 0xE7F}, {0x1100, 0x11FF}, {0x1E00, 0x1EFF}, {0x3000, 0x30FF}, {0x4E00, 0x4E80}, {0xAC00, 0xAC40},
      {0x1F300, 0x1F64F}, {0x1D400, 0x1D4FF}, {0x9, 0xD}};
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint32_t> cps(1 + rng() % 30);
    for (uint32_t& cp : cps) {
      const auto [lo, hi] = ranges[rng() % ranges.size()];
      cp = lo + static_cast<uint32_t>(rng() % (hi - lo + 1));
    }
    const std::string s = utf8_of(cps);
    const std::string n = normalize_nfc(s);
    INFO("text: " << s);
    REQUIRE(normalize_nfc(n) == n);
    REQUIRE(tok.decode(tok.encode(s)) == n);
  }
}
