// qwen-convert's engine: Hugging Face Qwen2 safetensors -> GGUF, one tensor at a time.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <vector>

#include "engine/gguf.hpp"
#include "engine/hf_vocab.hpp"
#include "engine/model_config.hpp"
#include "engine/safetensors.hpp"
#include "engine/tensor_codec.hpp"
#include "engine/vocab_gguf.hpp"
#include "qwenedge/convert.hpp"
#include "qwenedge/error.hpp"
#include "tokenizer/vocab.hpp"

namespace qwenedge {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kChunkBytes = 8u << 20;  // fp32 staging per write: bounds peak memory

// One GGUF tensor to write and the Hugging Face tensor it comes from.
struct Plan {
  std::string gguf_name;
  std::string hf_name;
  std::vector<int64_t> shape;  // expected HF shape, outermost first
  gguf::TensorType type;
};

std::vector<Plan> make_plan(const ModelConfig& c, gguf::TensorType matrix_type, gguf::TensorType embed_type) {
  const int64_t D = c.hidden, F = c.ffn, V = c.vocab_size, Q = c.q_dim(), KV = c.kv_dim();
  auto type_for = [](gguf::TensorType t, int64_t cols) {
    // Block types need whole blocks per row; other widths fall back to F16.
    return cols % 32 == 0 || t == gguf::TensorType::kF32 || t == gguf::TensorType::kF16 || t == gguf::TensorType::kBF16
               ? t : gguf::TensorType::kF16;
  };
  const auto f32 = gguf::TensorType::kF32;
  std::vector<Plan> p;
  p.push_back({"token_embd.weight", "model.embed_tokens.weight", {V, D}, type_for(embed_type, D)});
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    const std::string h = "model.layers." + std::to_string(l) + ".";
    p.push_back({b + "attn_norm.weight", h + "input_layernorm.weight", {D}, f32});
    p.push_back({b + "attn_q.weight", h + "self_attn.q_proj.weight", {Q, D}, type_for(matrix_type, D)});
    p.push_back({b + "attn_q.bias", h + "self_attn.q_proj.bias", {Q}, f32});
    p.push_back({b + "attn_k.weight", h + "self_attn.k_proj.weight", {KV, D}, type_for(matrix_type, D)});
    p.push_back({b + "attn_k.bias", h + "self_attn.k_proj.bias", {KV}, f32});
    p.push_back({b + "attn_v.weight", h + "self_attn.v_proj.weight", {KV, D}, type_for(matrix_type, D)});
    p.push_back({b + "attn_v.bias", h + "self_attn.v_proj.bias", {KV}, f32});
    p.push_back({b + "attn_output.weight", h + "self_attn.o_proj.weight", {D, Q}, type_for(matrix_type, Q)});
    p.push_back({b + "ffn_norm.weight", h + "post_attention_layernorm.weight", {D}, f32});
    p.push_back({b + "ffn_gate.weight", h + "mlp.gate_proj.weight", {F, D}, type_for(matrix_type, D)});
    p.push_back({b + "ffn_up.weight", h + "mlp.up_proj.weight", {F, D}, type_for(matrix_type, D)});
    p.push_back({b + "ffn_down.weight", h + "mlp.down_proj.weight", {D, F}, type_for(matrix_type, F)});
  }
  p.push_back({"output_norm.weight", "model.norm.weight", {D}, f32});
  if (!c.tied_embeddings) p.push_back({"output.weight", "lm_head.weight", {V, D}, type_for(embed_type, D)});
  return p;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// llama.cpp's general.file_type values, so other tools label our files correctly.
uint32_t file_type(WeightType t) {
  switch (t) {
    case WeightType::kF32: return 0;
    case WeightType::kF16: return 1;
    case WeightType::kQ4_0: return 2;
    case WeightType::kQ8_0: return 7;
    case WeightType::kBF16: return 32;
  }
  return 0;
}

}  // namespace

tokenizer::Vocab load_padded_vocab(const fs::path& dir, const ModelConfig& c) {
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

  const ModelConfig config = read_hf_config(config_path.string());
  const GenerationDefaults gen = read_hf_generation_config((dir / "generation_config.json").string());
  const tokenizer::Vocab vocab = load_padded_vocab(dir, config);
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open_dir(hf_dir);

  const WeightType embed_type = opt.embedding_type.value_or(opt.type == WeightType::kQ4_0 ? WeightType::kQ8_0 : opt.type);
  const std::vector<Plan> plan = make_plan(config, to_tensor_type(opt.type), to_tensor_type(embed_type));

  // Check every tensor before writing anything, so a bad checkpoint fails fast and leaves no file.
  std::vector<const SafetensorsTensor*> sources;
  for (const Plan& p : plan) {
    const SafetensorsTensor* t = ckpt.find(p.hf_name);
    if (!t) throw Error(ErrorCode::kBadModelFile, hf_dir + ": tensor " + p.hf_name + " is missing");
    if (t->shape != p.shape) {
      throw Error(ErrorCode::kBadModelFile, ckpt.file_path(t->file) + ": tensor " + p.hf_name + " has shape " +
                                                shape_str(t->shape) + ", config.json implies " + shape_str(p.shape));
    }
    sources.push_back(t);
  }

  const std::string tmp_path = out_path + ".tmp";
  ConvertSummary summary;
  try {
    gguf::Writer w(tmp_path);
    w.set_string("general.architecture", "qwen2");
    if (!opt.name.empty()) w.set_string("general.name", opt.name);
    w.set_u32("general.file_type", file_type(opt.type));
    if (opt.type == WeightType::kQ8_0 || opt.type == WeightType::kQ4_0 || embed_type == WeightType::kQ8_0 ||
        embed_type == WeightType::kQ4_0) {
      w.set_u32("general.quantization_version", 2);
    }
    write_config(w, config);
    write_vocab(w, vocab);
    write_generation_defaults(w, gen);

    for (const Plan& p : plan) {
      std::vector<uint64_t> ne(p.shape.rbegin(), p.shape.rend());
      w.add_tensor(p.gguf_name, p.type, ne);
    }

    std::vector<float> staging;
    std::vector<uint8_t> encoded;
    for (size_t i = 0; i < plan.size(); ++i) {
      const Plan& p = plan[i];
      const SafetensorsTensor& src = *sources[i];
      const int64_t cols = p.shape.back();
      const int64_t rows = p.shape.size() == 1 ? 1 : p.shape[0];
      const auto row_bytes = gguf::tensor_row_bytes(p.type, static_cast<uint64_t>(cols));
      const int64_t chunk_rows = std::max<int64_t>(1, static_cast<int64_t>(kChunkBytes / 4) / cols);
      for (int64_t r = 0; r < rows; r += chunk_rows) {
        const int64_t n = std::min(chunk_rows, rows - r);
        staging.resize(static_cast<size_t>(n * cols));
        encoded.resize(static_cast<size_t>(n) * row_bytes);
        ckpt.read_f32(src, static_cast<uint64_t>(r * cols), static_cast<uint64_t>(n * cols), staging.data());
        encode_rows(p.type, staging.data(), n, cols, encoded.data());
        w.write_tensor_data(p.gguf_name, encoded.data(), encoded.size());
      }
      summary.parameters += static_cast<uint64_t>(rows * cols);
      summary.tensor_bytes += static_cast<uint64_t>(rows) * row_bytes;
      ++summary.tensors;
      if (opt.on_progress) {
        opt.on_progress({static_cast<int64_t>(i + 1), static_cast<int64_t>(plan.size()), p.gguf_name,
                         gguf::tensor_type_name(p.type)});
      }
    }
    w.finish();
    fs::rename(tmp_path, out_path);
  } catch (const fs::filesystem_error& e) {
    std::error_code ec;
    fs::remove(tmp_path, ec);
    throw Error(ErrorCode::kIo, out_path + ": " + e.code().message());
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp_path, ec);
    throw;
  }
  summary.file_bytes = fs::file_size(out_path);
  return summary;
}

}  // namespace qwenedge
