#include "engine/format/model_writer.hpp"

#include <algorithm>
#include <filesystem>

#include "engine/format/tensor_codec.hpp"
#include "engine/format/vocab_gguf.hpp"
#include "kernels/kernels.hpp"
#include "qwenedge/error.hpp"

namespace qwenedge::detail {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kChunkValues = int64_t{2} << 20;  // fp32 values staged per write (8 MiB)

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

bool is_block(WeightType t) { return t == WeightType::kQ8_0 || t == WeightType::kQ4_0; }

}  // namespace

WeightType default_embedding_type(WeightType type, std::optional<WeightType> asked) {
  return asked.value_or(type == WeightType::kQ4_0 ? WeightType::kQ8_0 : type);
}

std::vector<TensorPlan> qwen2_tensor_plan(const ModelConfig& c, WeightType type, WeightType embed_type,
                                          bool interleaved) {
  const int64_t D = c.hidden, F = c.ffn, V = c.vocab_size, Q = c.q_dim(), KV = c.kv_dim();
  auto as = [](WeightType t, int64_t cols) { return to_tensor_type(is_block(t) && cols % 32 != 0 ? WeightType::kF16 : t); };
  auto matrix = [&](std::string name, std::string hf, int64_t rows, int64_t cols, WeightType t) {
    gguf::TensorType stored = as(t, cols);
    const bool multiplied = name != "token_embd.weight" || c.tied_embeddings;
    if (interleaved && multiplied) {
      if (stored == gguf::TensorType::kQ8_0) stored = gguf::TensorType::kQ8_0_R8;
      if (stored == gguf::TensorType::kQ4_0) stored = gguf::TensorType::kQ4_0_R8;
    }
    return TensorPlan{std::move(name), std::move(hf), rows, cols, true, false, stored};
  };
  auto vector = [](std::string name, std::string hf, int64_t n, bool norm) {
    return TensorPlan{std::move(name), std::move(hf), 1, n, false, norm, gguf::TensorType::kF32};
  };
  std::vector<TensorPlan> p;
  p.push_back(matrix("token_embd.weight", "model.embed_tokens.weight", V, D, embed_type));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    const std::string h = "model.layers." + std::to_string(l) + ".";
    p.push_back(vector(b + "attn_norm.weight", h + "input_layernorm.weight", D, true));
    p.push_back(matrix(b + "attn_q.weight", h + "self_attn.q_proj.weight", Q, D, type));
    p.push_back(vector(b + "attn_q.bias", h + "self_attn.q_proj.bias", Q, false));
    p.push_back(matrix(b + "attn_k.weight", h + "self_attn.k_proj.weight", KV, D, type));
    p.push_back(vector(b + "attn_k.bias", h + "self_attn.k_proj.bias", KV, false));
    p.push_back(matrix(b + "attn_v.weight", h + "self_attn.v_proj.weight", KV, D, type));
    p.push_back(vector(b + "attn_v.bias", h + "self_attn.v_proj.bias", KV, false));
    p.push_back(matrix(b + "attn_output.weight", h + "self_attn.o_proj.weight", D, Q, type));
    p.push_back(vector(b + "ffn_norm.weight", h + "post_attention_layernorm.weight", D, true));
    p.push_back(matrix(b + "ffn_gate.weight", h + "mlp.gate_proj.weight", F, D, type));
    p.push_back(matrix(b + "ffn_up.weight", h + "mlp.up_proj.weight", F, D, type));
    p.push_back(matrix(b + "ffn_down.weight", h + "mlp.down_proj.weight", D, F, type));
  }
  p.push_back(vector("output_norm.weight", "model.norm.weight", D, true));
  if (!c.tied_embeddings) p.push_back(matrix("output.weight", "lm_head.weight", V, D, embed_type));
  return p;
}

ConvertSummary write_qwen2_gguf(const std::string& out_path, const ModelMetadata& meta,
                                const std::vector<TensorPlan>& plan, const RowSource& source,
                                const std::function<void(const ConvertProgress&)>& on_progress) {
  const std::string tmp_path = out_path + ".tmp";
  ConvertSummary summary;
  try {
    gguf::Writer w(tmp_path);
    w.set_string("general.architecture", "qwen2");
    if (!meta.name.empty()) w.set_string("general.name", meta.name);
    w.set_u32("general.file_type", file_type(meta.type));
    if (is_block(meta.type) || is_block(meta.embed_type)) w.set_u32("general.quantization_version", 2);
    write_config(w, meta.config);
    write_vocab(w, meta.vocab);
    write_generation_defaults(w, meta.generation);
    for (const TensorPlan& p : plan) {
      std::vector<uint64_t> ne{static_cast<uint64_t>(p.cols)};
      if (p.matrix) ne.push_back(static_cast<uint64_t>(p.rows));
      w.add_tensor(p.name, p.type, ne);
    }

    std::vector<float> staging;
    std::vector<uint8_t> encoded, interleaved;
    for (size_t i = 0; i < plan.size(); ++i) {
      const TensorPlan& p = plan[i];
      const auto row_bytes = gguf::tensor_row_bytes(p.type, static_cast<uint64_t>(p.cols));
      const bool groups = gguf::is_row_interleaved(p.type);
      const auto group = static_cast<int64_t>(gguf::kInterleavedRows);
      // Interleaved chunks are whole groups of rows, so they pack independently.
      int64_t chunk_rows = std::max<int64_t>(1, kChunkValues / p.cols);
      if (groups) chunk_rows = std::max(group, chunk_rows / group * group);
      for (int64_t r = 0; r < p.rows; r += chunk_rows) {
        const int64_t n = std::min(chunk_rows, p.rows - r);
        staging.resize(static_cast<size_t>(n * p.cols));
        encoded.resize(static_cast<size_t>(n) * row_bytes);
        source(i, r, n, staging.data());
        const float* st = staging.data();
        uint8_t* en = encoded.data();
        // Rows encode independently: in parallel, to the same bytes.
#pragma omp parallel for schedule(static)
        for (int64_t j = 0; j < n; ++j) encode_rows(p.type, st + j * p.cols, 1, p.cols, en + static_cast<uint64_t>(j) * row_bytes);
        if (!groups) {
          w.write_tensor_data(p.name, encoded.data(), encoded.size());
          continue;
        }
        const auto kt = p.type == gguf::TensorType::kQ8_0_R8 ? kernels::WeightType::kQ8_0 : kernels::WeightType::kQ4_0;
        const kernels::Matrix rows{kt, n, p.cols, encoded.data(), nullptr};
        interleaved.resize(static_cast<size_t>(kernels::packed_matrix_bytes(rows)));
        kernels::pack_matrix(rows, 0, n, interleaved.data());
        w.write_tensor_data(p.name, interleaved.data(), interleaved.size());
      }
      std::vector<uint64_t> ne{static_cast<uint64_t>(p.cols)};
      if (p.matrix) ne.push_back(static_cast<uint64_t>(p.rows));
      summary.parameters += static_cast<uint64_t>(p.rows * p.cols);
      summary.tensor_bytes += gguf::tensor_bytes(p.type, ne);
      ++summary.tensors;
      if (on_progress) {
        on_progress({static_cast<int64_t>(i + 1), static_cast<int64_t>(plan.size()), p.name, gguf::tensor_type_name(p.type)});
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

}  // namespace qwenedge::detail
