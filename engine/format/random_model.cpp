// write_random_model: a qwen2 GGUF with random weights, the real tokenizer and generation defaults.
#include "qwenedge/random_model.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <vector>

#include "engine/format/hf_vocab.hpp"
#include "engine/format/model_config.hpp"
#include "engine/format/model_writer.hpp"
#include "qwenedge/error.hpp"

namespace qwenedge {

using namespace detail;  // the engine's internals
namespace {

namespace fs = std::filesystem;

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
  ModelMetadata meta;
  meta.config = config_from(opt.shape);
  validate_config(meta.config, "random model shape");
  if (!(opt.stddev >= 0.0f) || !std::isfinite(opt.stddev)) {
    throw Error(ErrorCode::kInvalidArgument, "random model: stddev " + std::to_string(opt.stddev) + " is not a finite value >= 0");
  }
  const fs::path dir(opt.tokenizer_dir);
  if (opt.tokenizer_dir.empty() || !fs::is_directory(dir)) {
    throw Error(ErrorCode::kIo, "tokenizer directory \"" + opt.tokenizer_dir + "\" is not a directory");
  }
  meta.vocab = load_padded_vocab(dir, meta.config);
  meta.generation = read_hf_generation_config((dir / "generation_config.json").string());
  meta.type = opt.type;
  meta.embed_type = default_embedding_type(opt.type, opt.embedding_type);
  meta.name = opt.name;
  const std::vector<TensorPlan> plan = qwen2_tensor_plan(meta.config, meta.type, meta.embed_type, opt.interleaved);

  // Norm weights are 1; everything else ~N(0, stddev), one independent stream per row.
  const RowSource random = [&](size_t index, int64_t first_row, int64_t n_rows, float* out) {
    const TensorPlan& p = plan[index];
#pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < n_rows; ++j) {
      float* row = out + j * p.cols;
      if (p.norm) {
        std::fill_n(row, p.cols, 1.0f);
      } else {
        random_row(opt.seed, index, static_cast<uint64_t>(first_row + j), opt.stddev, row, p.cols);
      }
    }
  };
  return write_qwen2_gguf(out_path, meta, plan, random, opt.on_progress);
}

}  // namespace qwenedge
