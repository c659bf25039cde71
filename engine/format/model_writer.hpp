// Writing a qwen2 GGUF file, shared by the converter and the random-model writer: the tensor
// list in its canonical order, the metadata, and tensor data streamed chunk by chunk from a
// row source through a temporary file that is renamed at the end.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/format/gguf.hpp"
#include "engine/format/model_config.hpp"
#include "qwenedge/convert.hpp"
#include "tokenizer/vocab.hpp"

namespace qwenedge::detail {

struct TensorPlan {
  std::string name;     // GGUF name
  std::string hf_name;  // Hugging Face name
  int64_t rows = 1;     // 1-D tensors: rows == 1 and matrix == false
  int64_t cols = 0;
  bool matrix = false;
  bool norm = false;    // an RMSNorm weight
  gguf::TensorType type = gguf::TensorType::kF32;
};

// The embedding type when none is asked for: the main type, but Q4_0 keeps the embedding in
// Q8_0 (it is read in full for every token's logits and is the most sensitive matrix).
WeightType default_embedding_type(WeightType type, std::optional<WeightType> asked);

// Every tensor of a qwen2 model in file order. Matrices get `type` (the embedding and output
// `embed_type`), falling back to F16 where a row is not whole blocks; norms and biases F32.
// `interleaved`: the Q8_0 / Q4_0 matrices that are multiplied by (all but an untied embedding
// table, which is only looked up) get the row-interleaved types Q8_0_R8 / Q4_0_R8.
std::vector<TensorPlan> qwen2_tensor_plan(const ModelConfig& c, WeightType type, WeightType embed_type,
                                          bool interleaved = false);

struct ModelMetadata {
  ModelConfig config;
  tokenizer::Vocab vocab;
  GenerationDefaults generation;
  WeightType type = WeightType::kQ8_0;
  WeightType embed_type = WeightType::kQ8_0;
  std::string name;  // general.name; empty: not written
};

// Writes fp32 values of rows [first_row, first_row + n_rows) of plan[index] to `out`
// (n_rows × cols). Called in plan order, rows in order.
using RowSource = std::function<void(size_t index, int64_t first_row, int64_t n_rows, float* out)>;

ConvertSummary write_qwen2_gguf(const std::string& out_path, const ModelMetadata& meta,
                                const std::vector<TensorPlan>& plan, const RowSource& source,
                                const std::function<void(const ConvertProgress&)>& on_progress);

}  // namespace qwenedge::detail
