// qwen-convert's engine: Hugging Face Qwen2 safetensors -> GGUF, one tensor at a time.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <vector>

#include "engine/format/hf_vocab.hpp"
#include "engine/format/model_config.hpp"
#include "engine/format/model_writer.hpp"
#include "engine/format/safetensors.hpp"
#include "qwenedge/convert.hpp"
#include "qwenedge/error.hpp"
#include "tokenizer/vocab.hpp"

namespace qwenedge {

using namespace detail;  // the engine's internals
namespace {

namespace fs = std::filesystem;

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

tokenizer::Vocab detail::load_padded_vocab(const fs::path& dir, const ModelConfig& c) {
  const fs::path tok = dir / "tokenizer.json";
  if (!fs::exists(tok)) throw Error(ErrorCode::kIo, tok.string() + ": missing (the tokenizer is part of the model file)");
  const fs::path cfg = dir / "tokenizer_config.json";
  tokenizer::Vocab v = tokenizer::load_vocab_from_hf(tok.string(), fs::exists(cfg) ? cfg.string() : std::string());
  if (static_cast<int64_t>(v.tokens.size()) > c.vocab_size) {
    throw Error(ErrorCode::kBadModelFile, tok.string() + ": " + std::to_string(v.tokens.size()) +
                                              " tokens, more than config.json vocab_size " + std::to_string(c.vocab_size));
  }
  // The embedding has rows for ids the tokenizer never produces; name them so that the token
  // list and the embedding agree in length, as GGUF readers expect.
  for (auto i = static_cast<int64_t>(v.tokens.size()); i < c.vocab_size; ++i) {
    v.tokens.push_back("[PAD" + std::to_string(i) + "]");
    v.types.push_back(tokenizer::TokenType::kUnused);
  }
  return v;
}


const char* weight_type_name(WeightType t) noexcept {
  switch (t) {
    case WeightType::kF32: return "f32";
    case WeightType::kF16: return "f16";
    case WeightType::kBF16: return "bf16";
    case WeightType::kQ8_0: return "q8_0";
    case WeightType::kQ4_0: return "q4_0";
  }
  return "?";
}

WeightType parse_weight_type(const std::string& name) {
  std::string s = name;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  for (WeightType t : {WeightType::kF32, WeightType::kF16, WeightType::kBF16, WeightType::kQ8_0, WeightType::kQ4_0}) {
    if (s == weight_type_name(t)) return t;
  }
  throw Error(ErrorCode::kInvalidArgument, "unknown weight type \"" + name + "\" (expected f32, f16, bf16, q8_0 or q4_0)");
}

ConvertSummary convert_hf_to_gguf(const std::string& hf_dir, const std::string& out_path, const ConvertOptions& opt) {
  const fs::path dir(hf_dir);
  if (!fs::is_directory(dir)) throw Error(ErrorCode::kIo, hf_dir + ": not a directory");
  const fs::path config_path = dir / "config.json";
  if (!fs::exists(config_path)) throw Error(ErrorCode::kIo, config_path.string() + ": missing");

  ModelMetadata meta;
  meta.config = read_hf_config(config_path.string());
  meta.generation = read_hf_generation_config((dir / "generation_config.json").string());
  meta.vocab = load_padded_vocab(dir, meta.config);
  meta.type = opt.type;
  meta.embed_type = default_embedding_type(opt.type, opt.embedding_type);
  meta.name = opt.name;
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open_dir(hf_dir);
  const std::vector<TensorPlan> plan = qwen2_tensor_plan(meta.config, meta.type, meta.embed_type, opt.interleaved);

  // Check every tensor before writing anything, so a bad checkpoint fails fast and leaves no file.
  std::vector<const SafetensorsTensor*> sources;
  for (const TensorPlan& p : plan) {
    const SafetensorsTensor* t = ckpt.find(p.hf_name);
    if (!t) throw Error(ErrorCode::kBadModelFile, hf_dir + ": tensor " + p.hf_name + " is missing");
    const std::vector<int64_t> want = p.matrix ? std::vector<int64_t>{p.rows, p.cols} : std::vector<int64_t>{p.cols};
    if (t->shape != want) {
      throw Error(ErrorCode::kBadModelFile, ckpt.file_path(t->file) + ": tensor " + p.hf_name + " has shape " +
                                                shape_str(t->shape) + ", config.json implies " + shape_str(want));
    }
    sources.push_back(t);
  }
  const RowSource read = [&](size_t index, int64_t first_row, int64_t n_rows, float* out) {
    const int64_t cols = plan[index].cols;
    ckpt.read_f32(*sources[index], static_cast<uint64_t>(first_row * cols), static_cast<uint64_t>(n_rows * cols), out);
  };
  return write_qwen2_gguf(out_path, meta, plan, read, opt.on_progress);
}

}  // namespace qwenedge
