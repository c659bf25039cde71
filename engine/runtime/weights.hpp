// The model's weights as views into the mapped GGUF file, one struct per layer.
// Shapes are written outermost first: a matrix [rows, cols] computes y[rows] = W · x[cols].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/format/gguf.hpp"
#include "engine/format/model_config.hpp"
#include "engine/runtime/packed_weights.hpp"
#include "kernels/matmul.hpp"
#include "tokenizer/vocab.hpp"

namespace qwenedge::detail {

// A row-major matrix stored in a GGUF tensor type; row r starts at data + r * row_bytes.
// `packed`: the same matrix in the kernels' interleaved layout (kernels/pack.hpp), when packed
// at load or stored so in the file (a Q8_0_R8 / Q4_0_R8 tensor: `type` is then its block type).
// At least one of the two is set; a file stored packed has no rows (`data` null) until
// pack_weights() unpacks them for kernels that need rows.
struct WeightView {
  gguf::TensorType type = gguf::TensorType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  uint64_t row_bytes = 0;
  const uint8_t* data = nullptr;
  const uint8_t* packed = nullptr;
  const uint8_t* row(int64_t r) const { return data + static_cast<uint64_t>(r) * row_bytes; }
};

// The view as the kernels take it.
kernels::Matrix as_matrix(const WeightView& w);
// Row r of w as fp32, the same values from either copy (the packed one when there is one).
void decode_weight_row(const WeightView& w, int64_t r, float* out);

struct LayerWeights {
  const float* attn_norm;  // [D]
  WeightView wq;           // [H·Dh, D]
  const float* bq;         // [H·Dh]
  WeightView wk;           // [Hkv·Dh, D]
  const float* bk;         // [Hkv·Dh]
  WeightView wv;           // [Hkv·Dh, D]
  const float* bv;         // [Hkv·Dh]
  WeightView wo;           // [D, H·Dh]
  const float* ffn_norm;   // [D]
  WeightView w_gate;       // [F, D]
  WeightView w_up;         // [F, D]
  WeightView w_down;       // [D, F]
};

struct ModelWeights {
  WeightView token_embd;      // [V, D]
  std::vector<LayerWeights> layers;
  const float* output_norm;   // [D]
  WeightView output;          // [V, D]; the same view as token_embd when tied
};

// Everything read from one GGUF file. Immutable after load; the weight views point into
// `file`'s mapping and into `vectors` (1-D tensors decoded to fp32).
struct LoadedModel {
  gguf::File file;
  ModelConfig config;
  GenerationDefaults generation;
  tokenizer::Vocab vocab;
  ModelWeights weights;
  std::vector<std::vector<float>> vectors;  // owned fp32 copies of norms and biases
  WeightBuffer packed;                       // interleaved copies of the matrices (packed_weights.hpp)
  WeightBuffer rows;                         // GGUF rows of matrices the file stores interleaved
};

// Opens, validates and maps a qwen2 GGUF file: config from metadata, every tensor by name with
// its shape checked against the config. Throws qwenedge::Error naming the file, tensor and value.
LoadedModel load_model(const std::string& path);

}  // namespace qwenedge::detail
