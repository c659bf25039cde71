// Random-weight Qwen2 model files: the exact shape of a real model (and its real tokenizer) without
// its weights, for benchmarks and tests that need realistic sizes but no download.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "qwenedge/convert.hpp"

namespace qwenedge {

// Hyper-parameters of the file's qwen2.* metadata. Defaults: Qwen2.5-0.5B-Instruct's config.json.
struct RandomModelShape {
  int64_t vocab_size = 151936;   // V: embedding rows (the tokenizer is padded to this many)
  int64_t hidden = 896;          // D
  int64_t layers = 24;           // L
  int64_t heads = 14;            // H: query heads
  int64_t kv_heads = 2;          // Hkv
  int64_t ffn = 4864;            // F
  int64_t context_length = 32768;
  float rope_theta = 1e6f;
  float rms_eps = 1e-6f;
  bool tied_embeddings = true;
};

struct RandomModelOptions {
  RandomModelShape shape;
  WeightType type = WeightType::kQ8_0;
  // Token embedding / output matrix type; unset: like qwen-convert (Q4_0 keeps it in Q8_0).
  std::optional<WeightType> embedding_type;
  uint64_t seed = 0;           // the same seed and options give the same bytes
  float stddev = 0.02f;        // weights ~ N(0, stddev) (approximately; biases too; norms are 1)
  // Directory with tokenizer.json, tokenizer_config.json and (optional) generation_config.json.
  std::string tokenizer_dir;
  std::string name = "random";  // general.name
  bool interleaved = false;     // as ConvertOptions::interleaved
  std::function<void(const ConvertProgress&)> on_progress;  // called after each tensor
};

// Writes a GGUF v3 qwen2 model with random weights, the real tokenizer and the generation
// defaults, one tensor at a time (peak memory a few MiB whatever the shape), through a temporary
// file renamed at the end. Throws qwenedge::Error (kInvalidArgument for an inconsistent shape,
// kIo / kBadModelFile for the tokenizer files or the output).
ConvertSummary write_random_model(const std::string& out_path, const RandomModelOptions& options);

}  // namespace qwenedge
