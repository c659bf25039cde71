// qwen-random-model: writes a random-weight Qwen2 GGUF (default: the Qwen2.5-0.5B-Instruct shape).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "qwenedge/error.hpp"
#include "common/write_model.hpp"
#include "qwenedge/random_model.hpp"

namespace {

constexpr const char* kUsage = R"(usage: qwen-random-model OUT.gguf [options]

Writes a GGUF v3 qwen2 model with random weights (~N(0, 0.02), deterministic from the seed),
the real tokenizer and generation defaults. The default shape is Qwen2.5-0.5B-Instruct.

  --type TYPE          weight matrices: f32, f16, bf16, q8_0 (default) or q4_0
  --embed-type TYPE    token embedding / tied output (default: --type; q4_0 keeps q8_0)
  --seed N             random seed (default 0)
  --stddev X           weight standard deviation (default 0.02)
  --tokenizer-dir DIR  directory with tokenizer.json, tokenizer_config.json and optionally
                       generation_config.json (default: )" QWENEDGE_DEFAULT_TOKENIZER_DIR R"()
  --vocab N            embedding rows (default 151936; at least the tokenizer's size)
  --hidden N           hidden size (default 896)
  --layers N           layers (default 24)
  --heads N            query heads (default 14)
  --kv-heads N         key/value heads (default 2)
  --ffn N              feed-forward size (default 4864)
  --context N          context length (default 32768)
  --untied             write a separate output.weight
  --interleaved        row-interleaved q8_0 / q4_0 matrices, as qwen-convert --interleaved
  --quiet              no progress and no summary
  -h, --help           this text
)";

int64_t parse_int(const std::string& opt, const std::string& v, int64_t lo, int64_t hi) {
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < lo || n > hi) {
    throw qwenedge::Error(qwenedge::ErrorCode::kInvalidArgument,
                          opt + " expects an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got \"" + v + "\"");
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out;
  qwenedge::RandomModelOptions opt;
  opt.tokenizer_dir = QWENEDGE_DEFAULT_TOKENIZER_DIR;
  bool quiet = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw qwenedge::Error(qwenedge::ErrorCode::kInvalidArgument, a + " needs a value");
        return argv[++i];
      };
      constexpr int64_t kBig = int64_t{1} << 24;
      if (a == "-h" || a == "--help") {
        std::fputs(kUsage, stdout);
        return 0;
      } else if (a == "--type") {
        opt.type = qwenedge::parse_weight_type(value());
      } else if (a == "--interleaved") {
        opt.interleaved = true;
      } else if (a == "--embed-type") {
        opt.embedding_type = qwenedge::parse_weight_type(value());
      } else if (a == "--seed") {
        opt.seed = static_cast<uint64_t>(parse_int(a, value(), 0, INT64_MAX));
      } else if (a == "--stddev") {
        const std::string v = value();
        char* end = nullptr;
        opt.stddev = std::strtof(v.c_str(), &end);
        if (v.empty() || *end != '\0') throw qwenedge::Error(qwenedge::ErrorCode::kInvalidArgument, "--stddev expects a number, got \"" + v + "\"");
      } else if (a == "--tokenizer-dir") {
        opt.tokenizer_dir = value();
      } else if (a == "--vocab") {
        opt.shape.vocab_size = parse_int(a, value(), 1, kBig);
      } else if (a == "--hidden") {
        opt.shape.hidden = parse_int(a, value(), 1, kBig);
      } else if (a == "--layers") {
        opt.shape.layers = parse_int(a, value(), 1, 4096);
      } else if (a == "--heads") {
        opt.shape.heads = parse_int(a, value(), 1, 4096);
      } else if (a == "--kv-heads") {
        opt.shape.kv_heads = parse_int(a, value(), 1, 4096);
      } else if (a == "--ffn") {
        opt.shape.ffn = parse_int(a, value(), 1, kBig);
      } else if (a == "--context") {
        opt.shape.context_length = parse_int(a, value(), 1, kBig);
      } else if (a == "--untied") {
        opt.shape.tied_embeddings = false;
      } else if (a == "--quiet") {
        quiet = true;
      } else if (!a.empty() && a[0] == '-') {
        throw qwenedge::Error(qwenedge::ErrorCode::kInvalidArgument, "unknown option " + a);
      } else if (out.empty()) {
        out = a;
      } else {
        throw qwenedge::Error(qwenedge::ErrorCode::kInvalidArgument, "unexpected argument " + a);
      }
    }
    if (out.empty()) {
      std::fputs(kUsage, stderr);
      return 2;
    }
  } catch (const qwenedge::Error& e) {
    std::fprintf(stderr, "qwen-random-model: %s\n(see qwen-random-model --help)\n", e.what());
    return 2;
  }

  return qwenedge::tools::write_model("qwen-random-model", out, quiet, [&](const qwenedge::tools::ProgressFn& progress) {
    opt.on_progress = progress;
    return qwenedge::write_random_model(out, opt);
  });
}
