// write_random_model: a qwen2 GGUF with random weights, the real tokenizer and generation defaults.
#include "qwenedge/random_model.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <vector>

#include "engine/gguf.hpp"
#include "engine/hf_vocab.hpp"
#include "engine/model_config.hpp"
#include "engine/tensor_codec.hpp"
#include "engine/vocab_gguf.hpp"
#include "qwenedge/error.hpp"

namespace qwenedge {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kChunkValues = int64_t{2} << 20;  // fp32 values staged per write (8 MiB)

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// One row of approximately N(0, stddev) values: each is the sum of four 16-bit uniforms
// (Irwin-Hall, mean 2, variance 1/3) centred and scaled. The stream depends only on
// (seed, tensor, row), so rows can be generated in any order, on any number of threads.
void random_row(uint64_t seed, uint64_t tensor, uint64_t row, float stddev, float* out, int64_t n) {
  uint64_t state = seed ^ (tensor * 0xD1B54A32D192ED03ull) ^ (row * 0x8CB92BA72F3D8DD7ull);
  splitmix64(state);
  const float scale = stddev * std::sqrt(3.0f) / 65536.0f;
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t r = splitmix64(state);
    const auto sum = static_cast<float>((r & 0xffff) + ((r >> 16) & 0xffff) + ((r >> 32) & 0xffff) + (r >> 48));
    out[i] = (sum - 2.0f * 65536.0f) * scale;
  }
}

// llama.cpp's general.file_type values, as qwen-convert writes them.
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

struct Plan {
  std::string name;
  int64_t rows, cols;      // 1-D tensors: rows == 1
  gguf::TensorType type;
  bool matrix;             // 2-D in the file
  bool ones;               // norm weights: all 1
};

ModelConfig config_from(const RandomModelShape& s) {
  ModelConfig c;
  c.vocab_size = s.vocab_size;
  c.hidden = s.hidden;
  c.n_layers = s.layers;
  c.n_heads = s.heads;
  c.n_kv_heads = s.kv_heads;
  c.head_dim = s.heads > 0 ? s.hidden / s.heads : 0;
  c.ffn = s.ffn;
  c.context_length = s.context_length;
  c.rope_theta = s.rope_theta;
  c.rms_eps = s.rms_eps;
  c.tied_embeddings = s.tied_embeddings;
  return c;
}

}  // namespace

ConvertSummary write_random_model(const std::string& out_path, const RandomModelOptions& opt) {
  const ModelConfig c = config_from(opt.shape);
  validate_config(c, "random model shape");
  if (!(opt.stddev >= 0.0f) || !std::isfinite(opt.stddev)) {
    throw Error(ErrorCode::kInvalidArgument, "random model: stddev " + std::to_string(opt.stddev) + " is not a finite value >= 0");
  }
  const fs::path dir(opt.tokenizer_dir);
  if (opt.tokenizer_dir.empty() || !fs::is_directory(dir)) {
    throw Error(ErrorCode::kIo, "tokenizer directory \"" + opt.tokenizer_dir + "\" is not a directory");
  }
  const tokenizer::Vocab vocab = load_padded_vocab(dir, c);
  const GenerationDefaults gen = read_hf_generation_config((dir / "generation_config.json").string());

  const WeightType embed = opt.embedding_type.value_or(opt.type == WeightType::kQ4_0 ? WeightType::kQ8_0 : opt.type);
  auto type_for = [](WeightType t, int64_t cols) {
    // Block types need whole blocks per row; other widths fall back to F16, as qwen-convert does.
    const bool block = t == WeightType::kQ8_0 || t == WeightType::kQ4_0;
    return to_tensor_type(block && cols % 32 != 0 ? WeightType::kF16 : t);
  };
  const int64_t D = c.hidden, F = c.ffn, V = c.vocab_size, Q = c.q_dim(), KV = c.kv_dim();
  const auto f32 = gguf::TensorType::kF32;
  std::vector<Plan> plan;
  plan.push_back({"token_embd.weight", V, D, type_for(embed, D), true, false});
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    plan.push_back({b + "attn_norm.weight", 1, D, f32, false, true});
    plan.push_back({b + "attn_q.weight", Q, D, type_for(opt.type, D), true, false});
    plan.push_back({b + "attn_q.bias", 1, Q, f32, false, false});
    plan.push_back({b + "attn_k.weight", KV, D, type_for(opt.type, D), true, false});
    plan.push_back({b + "attn_k.bias", 1, KV, f32, false, false});
    plan.push_back({b + "attn_v.weight", KV, D, type_for(opt.type, D), true, false});
    plan.push_back({b + "attn_v.bias", 1, KV, f32, false, false});
    plan.push_back({b + "attn_output.weight", D, Q, type_for(opt.type, Q), true, false});
    plan.push_back({b + "ffn_norm.weight", 1, D, f32, false, true});
    plan.push_back({b + "ffn_gate.weight", F, D, type_for(opt.type, D), true, false});
    plan.push_back({b + "ffn_up.weight", F, D, type_for(opt.type, D), true, false});
    plan.push_back({b + "ffn_down.weight", D, F, type_for(opt.type, F), true, false});
  }
  plan.push_back({"output_norm.weight", 1, D, f32, false, true});
  if (!c.tied_embeddings) plan.push_back({"output.weight", V, D, type_for(embed, D), true, false});

  const std::string tmp_path = out_path + ".tmp";
  ConvertSummary summary;
  try {
    gguf::Writer w(tmp_path);
    w.set_string("general.architecture", "qwen2");
    if (!opt.name.empty()) w.set_string("general.name", opt.name);
    w.set_u32("general.file_type", file_type(opt.type));
    const bool quantized = opt.type == WeightType::kQ8_0 || opt.type == WeightType::kQ4_0 ||
                           embed == WeightType::kQ8_0 || embed == WeightType::kQ4_0;
    if (quantized) w.set_u32("general.quantization_version", 2);
    write_config(w, c);
    write_vocab(w, vocab);
    write_generation_defaults(w, gen);
    for (const Plan& p : plan) {
      std::vector<uint64_t> ne{static_cast<uint64_t>(p.cols)};
      if (p.matrix) ne.push_back(static_cast<uint64_t>(p.rows));
      w.add_tensor(p.name, p.type, ne);
    }

    std::vector<float> staging;
    std::vector<uint8_t> encoded;
    for (size_t i = 0; i < plan.size(); ++i) {
      const Plan& p = plan[i];
      const auto row_bytes = gguf::tensor_row_bytes(p.type, static_cast<uint64_t>(p.cols));
      const int64_t chunk_rows = std::max<int64_t>(1, kChunkValues / p.cols);
      for (int64_t r = 0; r < p.rows; r += chunk_rows) {
        const int64_t n = std::min(chunk_rows, p.rows - r);
        staging.resize(static_cast<size_t>(n * p.cols));
        encoded.resize(static_cast<size_t>(n) * row_bytes);
        float* st = staging.data();
        uint8_t* en = encoded.data();
        // Rows are independent streams: generate and encode them in parallel, same bytes.
#pragma omp parallel for schedule(static)
        for (int64_t j = 0; j < n; ++j) {
          float* row = st + j * p.cols;
          if (p.ones) {
            std::fill_n(row, p.cols, 1.0f);
          } else {
            random_row(opt.seed, i, static_cast<uint64_t>(r + j), opt.stddev, row, p.cols);
          }
          encode_rows(p.type, row, 1, p.cols, en + static_cast<uint64_t>(j) * row_bytes);
        }
        w.write_tensor_data(p.name, encoded.data(), encoded.size());
      }
      summary.parameters += static_cast<uint64_t>(p.rows * p.cols);
      summary.tensor_bytes += static_cast<uint64_t>(p.rows) * row_bytes;
      ++summary.tensors;
      if (opt.on_progress) {
        opt.on_progress({static_cast<int64_t>(i + 1), static_cast<int64_t>(plan.size()), p.name, gguf::tensor_type_name(p.type)});
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
