#include "engine/runtime/weights.hpp"

#include "engine/format/tensor_codec.hpp"
#include "engine/format/vocab_gguf.hpp"
#include "kernels/kernels.hpp"
#include "qwenedge/error.hpp"

namespace qwenedge::detail {
namespace {

std::string shape_str(const std::vector<uint64_t>& ne) {
  std::string s = "[";
  for (size_t i = ne.size(); i-- > 0;) s += std::to_string(ne[i]) + (i ? ", " : "");
  return s + "]";
}

class Binder {
 public:
  explicit Binder(LoadedModel& m) : m_(m) {}

  const gguf::TensorInfo& find(const std::string& name, std::vector<uint64_t> ne_expected) {
    const gguf::TensorInfo* t = m_.file.find_tensor(name);
    if (!t) throw Error(ErrorCode::kBadModelFile, m_.file.path() + ": tensor " + name + " is missing");
    if (t->ne != ne_expected) {
      throw Error(ErrorCode::kBadModelFile, m_.file.path() + ": tensor " + name + " has shape " + shape_str(t->ne) +
                                                ", the model config implies " + shape_str(ne_expected));
    }
    return *t;
  }

  WeightView matrix(const std::string& name, int64_t rows, int64_t cols) {
    const gguf::TensorInfo& t = find(name, {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)});
    const gguf::TensorType type = gguf::block_type(t.type);
    const uint64_t row_bytes = gguf::tensor_row_bytes(type, static_cast<uint64_t>(cols));
    if (gguf::is_row_interleaved(t.type)) return {type, rows, cols, row_bytes, nullptr, m_.file.tensor_data(t)};
    return {type, rows, cols, row_bytes, m_.file.tensor_data(t), nullptr};
  }

  // 1-D tensors are small: decode them once to fp32 whatever their stored type.
  const float* vector(const std::string& name, int64_t n) {
    const gguf::TensorInfo& t = find(name, {static_cast<uint64_t>(n)});  // 1-D: never interleaved
    std::vector<float>& v = m_.vectors.emplace_back(static_cast<size_t>(n));
    decode_row(t.type, m_.file.tensor_data(t), n, v.data());
    return v.data();
  }

 private:
  LoadedModel& m_;
};

}  // namespace

kernels::Matrix as_matrix(const WeightView& w) {
  auto type = kernels::WeightType::kF32;
  switch (w.type) {
    case gguf::TensorType::kF32: type = kernels::WeightType::kF32; break;
    case gguf::TensorType::kF16: type = kernels::WeightType::kF16; break;
    case gguf::TensorType::kBF16: type = kernels::WeightType::kBF16; break;
    case gguf::TensorType::kQ8_0: type = kernels::WeightType::kQ8_0; break;
    case gguf::TensorType::kQ4_0: type = kernels::WeightType::kQ4_0; break;
    case gguf::TensorType::kQ8_0_R8:
    case gguf::TensorType::kQ4_0_R8: break;  // views hold the block type (Binder::matrix)
  }
  return {type, w.rows, w.cols, w.data, w.packed};
}

void decode_weight_row(const WeightView& w, int64_t r, float* out) {
  // The packed copy first: once it is made, the file's rows are dropped from memory.
  if (w.packed != nullptr) {
    kernels::unpack_row(as_matrix(w), r, out);
  } else {
    decode_row(w.type, w.row(r), w.cols, out);
  }
}

LoadedModel load_model(const std::string& path) {
  LoadedModel m{gguf::File::open(path), {}, {}, {}, {}, {}};
  m.config = read_config(m.file);
  ModelConfig& c = m.config;
  const gguf::TensorInfo* embd = m.file.find_tensor("token_embd.weight");
  if (!embd) throw Error(ErrorCode::kBadModelFile, path + ": tensor token_embd.weight is missing");
  if (embd->ne.size() != 2) throw Error(ErrorCode::kBadModelFile, path + ": token_embd.weight is not a matrix");
  const auto v_rows = static_cast<int64_t>(embd->ne[1]);
  if (c.vocab_size == 0) c.vocab_size = v_rows;
  validate_config(c, path);
  m.generation = read_generation_defaults(m.file);
  m.vocab = read_vocab(m.file);
  if (static_cast<int64_t>(m.vocab.tokens.size()) != c.vocab_size) {
    throw Error(ErrorCode::kBadModelFile, path + ": tokenizer has " + std::to_string(m.vocab.tokens.size()) +
                                              " tokens, the embedding has " + std::to_string(c.vocab_size) + " rows");
  }

  // Views hold raw pointers into m.vectors: reserve so that no push_back moves them.
  m.vectors.reserve(static_cast<size_t>(c.n_layers * 5 + 1));
  Binder b(m);
  const int64_t D = c.hidden, F = c.ffn, V = c.vocab_size, Q = c.q_dim(), KV = c.kv_dim();
  ModelWeights& w = m.weights;
  w.token_embd = b.matrix("token_embd.weight", V, D);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights lw{};
    lw.attn_norm = b.vector(p + "attn_norm.weight", D);
    lw.wq = b.matrix(p + "attn_q.weight", Q, D);
    lw.bq = b.vector(p + "attn_q.bias", Q);
    lw.wk = b.matrix(p + "attn_k.weight", KV, D);
    lw.bk = b.vector(p + "attn_k.bias", KV);
    lw.wv = b.matrix(p + "attn_v.weight", KV, D);
    lw.bv = b.vector(p + "attn_v.bias", KV);
    lw.wo = b.matrix(p + "attn_output.weight", D, Q);
    lw.ffn_norm = b.vector(p + "ffn_norm.weight", D);
    lw.w_gate = b.matrix(p + "ffn_gate.weight", F, D);
    lw.w_up = b.matrix(p + "ffn_up.weight", F, D);
    lw.w_down = b.matrix(p + "ffn_down.weight", D, F);
    w.layers.push_back(lw);
  }
  w.output_norm = b.vector("output_norm.weight", D);
  w.output = c.tied_embeddings ? w.token_embd : b.matrix("output.weight", V, D);
  return m;
}

}  // namespace qwenedge::detail
