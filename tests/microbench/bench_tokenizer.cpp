// Tokenizer speed, single thread: encode English and Chinese prose (with the piece cache warm,
// as in a long-running process, and without it), decode, streaming decode, NFC, and loading.
//
// Data: the Qwen2.5 tokenizer from $QWENEDGE_SHARED_DIR/qwen2.5-0.5b-instruct (default: the
// shared folder beside this checkout). English prose: the licence texts in
// /usr/share/common-licenses. Chinese prose: /usr/share/games/fortunes/chinese (Debian package
// fortunes-zh). Where those are missing a small built-in sample stands in (say so in reports).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "engine/format/gguf.hpp"
#include "engine/format/vocab_gguf.hpp"
#include "tokenizer/normalize.hpp"
#include "tokenizer/pretokenize.hpp"
#include "tokenizer/stream_decoder.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/tokenizer_impl.hpp"

namespace {

namespace fs = std::filesystem;
using namespace qwenedge;
using namespace qwenedge::tokenizer;

fs::path shared_dir() {
  if (const char* env = std::getenv("QWENEDGE_SHARED_DIR")) return env;
  return fs::path(__FILE__).parent_path().parent_path().parent_path() / "shared";
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const Vocab& vocab() {
  static const Vocab v = [] {
    const fs::path dir = shared_dir() / "qwen2.5-0.5b-instruct";
    if (!fs::exists(dir / "tokenizer.json")) {
      std::cerr << "bench_tokenizer: no tokenizer at " << dir << " (set QWENEDGE_SHARED_DIR)\n";
      std::exit(1);
    }
    return load_vocab_from_hf((dir / "tokenizer.json").string(), (dir / "tokenizer_config.json").string());
  }();
  return v;
}

const Tokenizer& tokenizer() {
  static const Tokenizer t(vocab());
  return t;
}

const std::string& english() {
  static const std::string text = [] {
    std::string s;
    const fs::path dir = "/usr/share/common-licenses";
    if (fs::exists(dir)) {
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(dir)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) s += read_file(f);
    }
    if (s.size() < 10000) {
      std::cerr << "bench_tokenizer: /usr/share/common-licenses missing, using a built-in English sample\n";
      const std::string para =
          "The licenses for most software and other practical works are designed to take away your freedom "
          "to share and change the works. By contrast, a public license is intended to guarantee your "
          "freedom to share and change all versions of a program, to make sure it remains free software "
          "for all its users. When we speak of free software, we are referring to freedom, not price.\n\n";
      while (s.size() < 200000) s += para;
    }
    return s;
  }();
  return text;
}

const std::string& chinese() {
  static const std::string text = [] {
    std::string raw = read_file("/usr/share/games/fortunes/chinese");
    std::string s;
    // Drop the ANSI colour escapes the fortune file carries.
    for (size_t i = 0; i < raw.size() && s.size() < (1u << 20); ++i) {
      if (raw[i] == '\x1b') {
        while (i < raw.size() && raw[i] != 'm') ++i;
        continue;
      }
      s.push_back(raw[i]);
    }
    while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();  // whole chars
    if (!s.empty() && static_cast<unsigned char>(s.back()) >= 0xC0) s.pop_back();
    if (s.size() < 10000) {
      std::cerr << "bench_tokenizer: fortunes-zh missing, using a built-in Chinese sample\n";
      const std::string para =
          "在这种规模的项目中，很难避免遇到与你意见不和的人。请接受这一事实，并保持礼貌。"
          "意见不一致并不是糟糕举止或者人身攻击的借口，而且让人感觉受到威胁显然不是健康的社区氛围。"
          "我们之中的许多贡献者并不以英语为母语，因此请在沟通时保持耐心，并尽量把问题说清楚。\n";
      while (s.size() < 200000) s += para;
    }
    return s;
  }();
  return text;
}

void encode(benchmark::State& state, const std::string& text) {
  const Tokenizer& tok = tokenizer();
  size_t n = 0;
  for (auto _ : state) {
    auto ids = tok.encode(text);
    n = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["bytes/token"] = static_cast<double>(text.size()) / static_cast<double>(n);
}

// The same work without the piece cache: NFC, pre-tokenizer and the merge loop on every piece.
void encode_uncached(benchmark::State& state, const std::string& text) {
  const qwenedge::tokenizer::detail::Bpe& bpe = tokenizer().impl().bpe();
  std::vector<std::string_view> pieces;
  std::vector<int32_t> ids;
  for (auto _ : state) {
    ids.clear();
    pieces.clear();
    const std::string normalized = normalize_nfc(text);
    pretokenize_qwen2(normalized, pieces);
    for (std::string_view p : pieces) bpe.merge_piece(p, ids);
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

void BM_EncodeEnglish(benchmark::State& s) { encode(s, english()); }
void BM_EncodeChinese(benchmark::State& s) { encode(s, chinese()); }
void BM_EncodeEnglishUncached(benchmark::State& s) { encode_uncached(s, english()); }
void BM_EncodeChineseUncached(benchmark::State& s) { encode_uncached(s, chinese()); }

void BM_DecodeChinese(benchmark::State& state) {
  const auto ids = tokenizer().encode(chinese());
  for (auto _ : state) benchmark::DoNotOptimize(tokenizer().decode(ids).data());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * chinese().size()));
}

void BM_StreamDecodeChinese(benchmark::State& state) {
  const auto ids = tokenizer().encode(chinese());
  for (auto _ : state) {
    StreamDecoder dec(tokenizer());
    size_t total = 0;
    for (int32_t id : ids) total += dec.push(id).size();
    total += dec.finish().size();
    benchmark::DoNotOptimize(total);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * chinese().size()));
}

void BM_NfcChinese(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(normalize_nfc(chinese()).data());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * chinese().size()));
}

void BM_LoadFromVocab(benchmark::State& state) {
  const Vocab& v = vocab();
  for (auto _ : state) {
    Tokenizer t(v);
    benchmark::DoNotOptimize(&t);
  }
  state.SetLabel(std::to_string(v.tokens.size()) + " tokens, " + std::to_string(v.merges.size()) + " merges");
}

fs::path tokenizer_gguf() {
  static const fs::path path = [] {
    const fs::path p = fs::temp_directory_path() / "qwenedge-bench-tokenizer.gguf";
    gguf::Writer w(p.string());
    w.set_string("general.architecture", "qwen2");
    qwenedge::detail::write_vocab(w, vocab());
    w.finish();
    return p;
  }();
  return path;
}

// GGUF open (header and metadata parse) + read_vocab + Tokenizer: what a model load pays.
void BM_LoadFromGguf(benchmark::State& state) {
  const std::string path = tokenizer_gguf().string();
  for (auto _ : state) {
    const gguf::File f = gguf::File::open(path);
    Tokenizer t(qwenedge::detail::read_vocab(f));
    benchmark::DoNotOptimize(&t);
  }
}

void BM_GgufOpenReadVocab(benchmark::State& state) {
  const std::string path = tokenizer_gguf().string();
  for (auto _ : state) {
    const gguf::File f = gguf::File::open(path);
    Vocab v = qwenedge::detail::read_vocab(f);
    benchmark::DoNotOptimize(v.tokens.data());
  }
}

}  // namespace

BENCHMARK(BM_EncodeEnglish)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeChinese)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeEnglishUncached)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeChineseUncached)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeChinese)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StreamDecodeChinese)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_NfcChinese)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadFromVocab)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadFromGguf)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GgufOpenReadVocab)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
