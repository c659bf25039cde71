// Qwen2 hyper-parameters, read from GGUF metadata or from a Hugging Face config.json.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qwenedge::gguf {
class File;
class Writer;
}  // namespace qwenedge::gguf

namespace qwenedge::detail {

struct ModelConfig {
  int64_t vocab_size = 0;      // V: rows of the embedding matrix
  int64_t hidden = 0;          // D: residual stream width
  int64_t n_layers = 0;        // L
  int64_t n_heads = 0;         // H: query heads
  int64_t n_kv_heads = 0;      // Hkv: key/value heads (GQA: H % Hkv == 0)
  int64_t head_dim = 0;        // Dh = D / H
  int64_t ffn = 0;             // F: SwiGLU inner width
  int64_t context_length = 0;  // positions the model was trained for
  float rope_theta = 1e6f;
  float rms_eps = 1e-6f;
  bool tied_embeddings = true;  // logits use the embedding matrix (no output.weight)

  int64_t q_dim() const { return n_heads * head_dim; }     // H·Dh
  int64_t kv_dim() const { return n_kv_heads * head_dim; } // Hkv·Dh
};

// Sampling defaults carried from generation_config.json into qwenedge.generation.* keys.
struct GenerationDefaults {
  float temperature = 1.0f;
  float top_p = 1.0f;
  int32_t top_k = 0;  // 0 = off
  float repetition_penalty = 1.0f;
  std::vector<int32_t> eos_ids;  // every id that ends a turn
  // read_generation_defaults: each value the sampler would refuse, replaced by its default above.
  std::vector<std::string> warnings;
};

// Checks every value is in range and the shapes agree (H % Hkv, even Dh, ...). `source` names
// the file in the error.
void validate_config(const ModelConfig& c, const std::string& source);

// Reads qwen2.* keys. Throws kUnsupported when general.architecture is not qwen2.
// vocab_size comes from the token embedding's shape (the caller fills it) when not in metadata.
ModelConfig read_config(const gguf::File& file);
void write_config(gguf::Writer& writer, const ModelConfig& c);

// A sampling default out of the sampler's range (NaN temperature, top_p 0, ...) is replaced by
// the value used when its key is absent, with a warning: the file still loads and serves.
GenerationDefaults read_generation_defaults(const gguf::File& file);
void write_generation_defaults(gguf::Writer& writer, const GenerationDefaults& g);

// Hugging Face config.json / generation_config.json (the latter is optional: an empty path or a
// missing file gives the defaults).
ModelConfig read_hf_config(const std::string& config_json_path);
GenerationDefaults read_hf_generation_config(const std::string& path);

}  // namespace qwenedge::detail
