// qwen-convert: Hugging Face Qwen2 checkpoint -> GGUF.
#include <cstdio>
#include <cstring>
#include <string>

#include "qwenedge/convert.hpp"
#include "qwenedge/error.hpp"
#include "common/write_model.hpp"

namespace {

constexpr const char* kUsage = R"(usage: qwen-convert HF_DIR OUT.gguf [--type TYPE] [--embed-type TYPE] [--interleaved] [--name NAME] [--quiet]

Converts a Hugging Face Qwen2 checkpoint (config.json, model.safetensors or sharded
model-*.safetensors with model.safetensors.index.json, tokenizer.json, tokenizer_config.json,
generation_config.json) into a GGUF v3 model file.

  --type TYPE        weight matrices: f32, f16, bf16, q8_0 (default) or q4_0.
                     Norms and biases are always f32.
  --embed-type TYPE  token embedding / tied output matrix (default: same as --type,
                     except q4_0, which keeps the embedding in q8_0)
  --interleaved      store the q8_0 / q4_0 matrices that are multiplied by in this engine's
                     row-interleaved types (Q8_0_R8 / Q4_0_R8): on x86 the model loads
                     without a repack (faster first token). Only qwenedge reads such files.
  --name NAME        general.name written into the file
  --quiet            no progress and no summary
  -h, --help         this text
)";

}  // namespace

int main(int argc, char** argv) {
  std::string in, out;
  qwenedge::ConvertOptions opt;
  bool quiet = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw qwenedge::Error(qwenedge::ErrorCode::kInvalidArgument, a + " needs a value");
        return argv[++i];
      };
      if (a == "-h" || a == "--help") {
        std::fputs(kUsage, stdout);
        return 0;
      } else if (a == "--type") {
        opt.type = qwenedge::parse_weight_type(value());
      } else if (a == "--interleaved") {
        opt.interleaved = true;
      } else if (a == "--embed-type") {
        opt.embedding_type = qwenedge::parse_weight_type(value());
      } else if (a == "--name") {
        opt.name = value();
      } else if (a == "--quiet") {
        quiet = true;
      } else if (!a.empty() && a[0] == '-') {
        throw qwenedge::Error(qwenedge::ErrorCode::kInvalidArgument, "unknown option " + a);
      } else if (in.empty()) {
        in = a;
      } else if (out.empty()) {
        out = a;
      } else {
        throw qwenedge::Error(qwenedge::ErrorCode::kInvalidArgument, "unexpected argument " + a);
      }
    }
    if (in.empty() || out.empty()) {
      std::fputs(kUsage, stderr);
      return 2;
    }
  } catch (const qwenedge::Error& e) {
    std::fprintf(stderr, "qwen-convert: %s\n(see qwen-convert --help)\n", e.what());
    return 2;
  }

  return qwenedge::tools::write_model("qwen-convert", out, quiet, [&](const qwenedge::tools::ProgressFn& progress) {
    opt.on_progress = progress;
    return qwenedge::convert_hf_to_gguf(in, out, opt);
  });
}
