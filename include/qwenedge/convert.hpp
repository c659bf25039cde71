// Converting a Hugging Face Qwen2 checkpoint into a GGUF model file.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace qwenedge {

// Storage type of the weight matrices in a GGUF file.
enum class WeightType { kF32, kF16, kBF16, kQ8_0, kQ4_0 };
const char* weight_type_name(WeightType t) noexcept;
// Parses "f32", "f16", "bf16", "q8_0", "q4_0" (case-insensitive); throws kInvalidArgument otherwise.
WeightType parse_weight_type(const std::string& name);

struct ConvertProgress {
  int64_t index = 0;  // 1-based index of the tensor just written
  int64_t count = 0;  // tensors in all
  std::string name;   // its GGUF name
  std::string type;   // its storage type
};

struct ConvertOptions {
  WeightType type = WeightType::kQ8_0;
  // Type of the token embedding (and the tied output matrix). Unset: the main type, except
  // that Q4_0 keeps the embedding in Q8_0 — it is read in full for every token's logits and is
  // the most quantization-sensitive matrix.
  std::optional<WeightType> embedding_type;
  std::string name;  // general.name; empty: not written
  // Store the Q8_0 / Q4_0 matrices the forward pass multiplies by in this engine's row-interleaved
  // types (Q8_0_R8 / Q4_0_R8, docs/FILE_FORMAT.md): on x86 the model then loads without being
  // repacked. Other GGUF readers reject such files.
  bool interleaved = false;
  std::function<void(const ConvertProgress&)> on_progress;  // called after each tensor
};

struct ConvertSummary {
  int64_t tensors = 0;
  uint64_t parameters = 0;    // weights in all tensors
  uint64_t tensor_bytes = 0;  // bytes of tensor data
  uint64_t file_bytes = 0;
  double bits_per_weight() const {
    return parameters ? 8.0 * static_cast<double>(tensor_bytes) / static_cast<double>(parameters) : 0.0;
  }
};

// Reads config.json, model.safetensors (or the sharded set with model.safetensors.index.json),
// tokenizer.json, tokenizer_config.json and generation_config.json from `hf_dir` and writes a
// GGUF v3 file. Streams one tensor at a time; writes to a temporary file and renames it, so an
// interrupted conversion never leaves a half-written model. The output is deterministic: the
// same checkpoint gives the same bytes, sharded or not. Throws qwenedge::Error.
ConvertSummary convert_hf_to_gguf(const std::string& hf_dir, const std::string& out_path,
                                  const ConvertOptions& options = {});

}  // namespace qwenedge
