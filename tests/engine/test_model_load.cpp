// Loading a qwen2 GGUF: config from metadata, tensors by name, shape checks, clear errors.
#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>

#include "engine/runtime/forward_ref.hpp"
#include "engine/format/gguf.hpp"
#include "engine/format/model_config.hpp"
#include "engine/format/vocab_gguf.hpp"
#include "engine/runtime/weights.hpp"
#include "qwenedge/error.hpp"

using namespace qwenedge;
using namespace qwenedge::detail;

namespace {

struct TinySpec {
  std::string arch = "qwen2";
  std::string skip_tensor;                 // leave this tensor out
  std::string reshape_tensor;              // give this tensor a wrong row count
  std::function<void(gguf::Writer&)> more; // extra metadata
  bool skip_block_count = false;
  int vocab = 8;
};

// A 1-layer qwen2 model: D=32, H=2, Hkv=1, Dh=16, F=64, V=8, all weights F32.
std::string write_tiny(const std::string& name, const TinySpec& spec = {}) {
  const auto dir = std::filesystem::temp_directory_path() / "qwenedge-test-load";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / name).string();
  gguf::Writer w(path);
  w.set_string("general.architecture", spec.arch);
  ModelConfig c;
  c.hidden = 32, c.n_layers = 1, c.n_heads = 2, c.n_kv_heads = 1, c.head_dim = 16, c.ffn = 64, c.context_length = 64;
  if (spec.skip_block_count) {
    w.set_u32("qwen2.context_length", 64);
    w.set_u32("qwen2.embedding_length", 32);
    w.set_u32("qwen2.feed_forward_length", 64);
    w.set_u32("qwen2.attention.head_count", 2);
    w.set_f32("qwen2.attention.layer_norm_rms_epsilon", 1e-6f);
  } else {
    write_config(w, c);
  }
  tokenizer::Vocab v;
  for (int i = 0; i < spec.vocab; ++i) {
    v.tokens.push_back(std::string(1, static_cast<char>('a' + i)));
    v.types.push_back(tokenizer::TokenType::kNormal);
  }
  v.eos_id = 0;
  write_vocab(w, v);
  if (spec.more) spec.more(w);

  std::vector<std::pair<std::string, std::vector<uint64_t>>> tensors = {
      {"token_embd.weight", {32, 8}},         {"blk.0.attn_norm.weight", {32}},   {"blk.0.attn_q.weight", {32, 32}},
      {"blk.0.attn_q.bias", {32}},            {"blk.0.attn_k.weight", {32, 16}},  {"blk.0.attn_k.bias", {16}},
      {"blk.0.attn_v.weight", {32, 16}},      {"blk.0.attn_v.bias", {16}},        {"blk.0.attn_output.weight", {32, 32}},
      {"blk.0.ffn_norm.weight", {32}},        {"blk.0.ffn_gate.weight", {32, 64}}, {"blk.0.ffn_up.weight", {32, 64}},
      {"blk.0.ffn_down.weight", {64, 32}},    {"output_norm.weight", {32}}};
  std::vector<std::pair<std::string, std::vector<uint64_t>>> kept;
  for (auto& [n, ne] : tensors) {
    if (n == spec.skip_tensor) continue;
    if (n == spec.reshape_tensor) ne.back() += 1;
    kept.emplace_back(n, ne);
    w.add_tensor(n, gguf::TensorType::kF32, ne);
  }
  for (const auto& [n, ne] : kept) {
    uint64_t count = 1;
    for (uint64_t d : ne) count *= d;
    std::vector<float> data(count);
    for (size_t i = 0; i < data.size(); ++i) data[i] = 0.01f * static_cast<float>((i * 7919) % 23) - 0.1f;
    w.write_tensor_data(n, data.data(), data.size() * 4);
  }
  w.finish();
  return path;
}

std::string load_error(const std::string& path, ErrorCode expected = ErrorCode::kBadModelFile) {
  try {
    load_model(path);
  } catch (const Error& e) {
    CHECK(e.code() == expected);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("A well-formed tiny model loads and runs", "[load]") {
  const LoadedModel m = load_model(write_tiny("ok.gguf"));
  CHECK(m.config.vocab_size == 8);
  CHECK(m.config.head_dim == 16);
  CHECK(m.config.tied_embeddings);
  CHECK(m.weights.output.data == m.weights.token_embd.data);
  RefKvCache cache(m.config, 16);
  std::vector<float> logits(8 * 3);
  const int32_t ids[] = {1, 2, 3};
  forward_reference(m, cache, ids, logits.data(), true);
  for (float x : logits) CHECK(std::isfinite(x));
  CHECK(cache.n == 3);
}

TEST_CASE("Bad token ids and a full context are invalid arguments", "[load]") {
  const LoadedModel m = load_model(write_tiny("ids.gguf"));
  RefKvCache cache(m.config, 2);
  std::vector<float> logits(8);
  const int32_t bad[] = {8};
  CHECK_THROWS_WITH(forward_reference(m, cache, bad, logits.data(), false), Catch::Contains("token id 8 is outside"));
  const int32_t three[] = {1, 2, 3};
  CHECK_THROWS_WITH(forward_reference(m, cache, three, logits.data(), false), Catch::Contains("context full"));
}

TEST_CASE("Missing tensor", "[load][bad-input]") {
  CHECK_THAT(load_error(write_tiny("missing.gguf", {.skip_tensor = "blk.0.ffn_up.weight"})),
             Catch::Contains("tensor blk.0.ffn_up.weight is missing"));
}

TEST_CASE("Tensor shape that disagrees with the config", "[load][bad-input]") {
  CHECK_THAT(load_error(write_tiny("shape.gguf", {.reshape_tensor = "blk.0.attn_k.weight"})),
             Catch::Contains("tensor blk.0.attn_k.weight has shape [17, 32], the model config implies [16, 32]"));
}

TEST_CASE("Not a qwen2 model", "[load][bad-input]") {
  CHECK_THAT(load_error(write_tiny("llama.gguf", {.arch = "llama"}), ErrorCode::kUnsupported),
             Catch::Contains("general.architecture is \"llama\""));
}

TEST_CASE("Missing hyper-parameter", "[load][bad-input]") {
  CHECK_THAT(load_error(write_tiny("nolayers.gguf", {.skip_block_count = true})),
             Catch::Contains("missing metadata key qwen2.block_count"));
}

TEST_CASE("Tokenizer that disagrees with the embedding", "[load][bad-input]") {
  CHECK_THAT(load_error(write_tiny("vocab.gguf", {.vocab = 7})), Catch::Contains("tokenizer has 7 tokens, the embedding has 8 rows"));
}

TEST_CASE("Hyper-parameters out of range", "[load][bad-input]") {
  auto heads = [](gguf::Writer& w) { w.set_u32("qwen2.attention.head_count_kv", 3); };
  // A duplicate key is itself an error: the file is rejected either way, with a message.
  CHECK_FALSE(load_error(write_tiny("kv.gguf", {.more = heads})).empty());
}
