// Loading a qwen2 GGUF: config from metadata, tensors by name, shape checks, clear errors.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>

#include "engine/runtime/forward_ref.hpp"
#include "engine/format/gguf.hpp"
#include "engine/format/model_config.hpp"
#include "engine/format/vocab_gguf.hpp"
#include "engine/runtime/model_impl.hpp"
#include "engine/runtime/weights.hpp"
#include "qwenedge/error.hpp"
#include "qwenedge/qwenedge.hpp"
#include "tokenizer/byte_level.hpp"

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
  bool bytes = false;  // instead: the 256 byte tokens (and as many embedding rows), as Model::load needs
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
  for (int i = 0; i < (spec.bytes ? 256 : spec.vocab); ++i) {
    v.tokens.push_back(spec.bytes ? tokenizer::byte_level_encode(std::string(1, static_cast<char>(i)))
                                  : std::string(1, static_cast<char>('a' + i)));
    v.types.push_back(tokenizer::TokenType::kNormal);
  }
  const uint64_t rows = spec.bytes ? 256 : 8;
  v.eos_id = 0;
  write_vocab(w, v);
  if (spec.more) spec.more(w);

  std::vector<std::pair<std::string, std::vector<uint64_t>>> tensors = {
      {"token_embd.weight", {32, rows}},              {"blk.0.attn_norm.weight", {32}},   {"blk.0.attn_q.weight", {32, 32}},
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

// The sampling default of that name (temperature, top_p, top_k, repetition_penalty).
float sampling_default(const GenerationDefaults& g, const std::string& name) {
  if (name == "temperature") return g.temperature;
  if (name == "top_p") return g.top_p;
  if (name == "top_k") return static_cast<float>(g.top_k);
  return g.repetition_penalty;
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

TEST_CASE("Invalid generation defaults fall back to the defaults of absent keys, with warnings", "[load][bad-input]") {
  auto bad = [](gguf::Writer& w) {
    w.set_f32("qwenedge.generation.temperature", std::numeric_limits<float>::quiet_NaN());
    w.set_f32("qwenedge.generation.top_p", 0.0f);
    w.set_i32("qwenedge.generation.top_k", -1);
    w.set_f32("qwenedge.generation.repetition_penalty", 0.0f);
  };
  const Model model = Model::load(write_tiny("bad-defaults.gguf", {.more = bad, .bytes = true}), {.threads = 1});
  const std::vector<std::string>& w = model.info().warnings;
  REQUIRE(w.size() == 4);
  CHECK(w[0] == "qwenedge.generation.temperature = nan is invalid (expected 0 <= temperature <= 100): using 1");
  CHECK(w[1] == "qwenedge.generation.top_p = 0 is invalid (expected 0 < top_p <= 1): using 1");
  CHECK(w[2] == "qwenedge.generation.top_k = -1 is invalid (expected 0 <= top_k <= 2147483647; 0 = off): using 0");
  CHECK(w[3] == "qwenedge.generation.repetition_penalty = 0 is invalid (expected 0 < repetition_penalty <= 10): using 1");
  const GenerationDefaults& g = ModelAccess::impl(model).loaded.generation;
  const GenerationDefaults absent;
  CHECK(g.temperature == absent.temperature);
  CHECK(g.top_p == absent.top_p);
  CHECK(g.top_k == absent.top_k);
  CHECK(g.repetition_penalty == absent.repetition_penalty);
  // A generation that relies on the defaults runs.
  GenerateOptions options;
  options.max_tokens = 3;
  options.ignore_eos = true;
  CHECK_NOTHROW(validate_options(model, options));
  Sequence seq(model);
  Engine engine(model);
  Generation gen(seq, Prompt::tokens({1, 2, 3}), options);
  while (!gen.done()) {
    engine.step({gen.input()});
    gen.advance();
  }
  CHECK(gen.result().tokens.size() == 3);
  // A sound file has no warnings.
  CHECK(Model::load(write_tiny("ok-defaults.gguf", {.bytes = true}), {.threads = 1}).info().warnings.empty());
}

TEST_CASE("A generation default is kept exactly when the sampler accepts it as an option", "[load][bad-input]") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  struct Case {
    const char* key;
    float value;
    std::function<void(GenerateOptions&, float)> as_option;
  };
  auto temperature = [](GenerateOptions& o, float v) { o.temperature = v; };
  auto top_p = [](GenerateOptions& o, float v) { o.top_p = v; };
  auto top_k = [](GenerateOptions& o, float v) { o.top_k = static_cast<int>(v); };
  auto penalty = [](GenerateOptions& o, float v) { o.repetition_penalty = v; };
  std::vector<Case> cases;
  for (float v : {nan, inf, -inf, -0.5f, -0.0f, 0.0f, 0.7f, 100.0f, 100.5f}) cases.push_back({"temperature", v, temperature});
  for (float v : {nan, inf, -0.1f, 0.0f, 1e-7f, 0.8f, 1.0f, 1.0001f}) cases.push_back({"top_p", v, top_p});
  for (float v : {-2.0f, -1.0f, 0.0f, 40.0f}) cases.push_back({"top_k", v, top_k});
  for (float v : {nan, inf, -1.0f, 0.0f, 1e-6f, 1.0f, 10.0f, 10.5f}) cases.push_back({"repetition_penalty", v, penalty});
  const Model sound = Model::load(write_tiny("sound-defaults.gguf", {.bytes = true}), {.threads = 1});
  for (const Case& c : cases) {
    const std::string key = std::string("qwenedge.generation.") + c.key;
    INFO(key << " = " << c.value);
    auto write = [&](gguf::Writer& w) {
      if (std::string(c.key) == "top_k") {
        w.set_i32(key, static_cast<int32_t>(c.value));
      } else {
        w.set_f32(key, c.value);
      }
    };
    const Model m = Model::load(write_tiny("one-default.gguf", {.more = write, .bytes = true}), {.threads = 1});
    GenerateOptions o;
    c.as_option(o, c.value);
    bool accepted = true;
    try {
      validate_options(sound, o);
    } catch (const Error&) {
      accepted = false;
    }
    CHECK(m.info().warnings.empty() == accepted);
    const float fallback = sampling_default(GenerationDefaults{}, c.key);
    CHECK(sampling_default(ModelAccess::impl(m).loaded.generation, c.key) == (accepted ? c.value : fallback));
    if (!accepted) {
      REQUIRE(m.info().warnings.size() == 1);
      CHECK_THAT(m.info().warnings[0], Catch::StartsWith(key + " = ") && Catch::Contains(" is invalid (expected "));
    }
    CHECK_NOTHROW(validate_options(m, {}));
  }
  // Beyond what an int holds: no option can say it, and the file's value is refused.
  auto huge_top_k = [](gguf::Writer& w) { w.set_u64("qwenedge.generation.top_k", uint64_t{1} << 31); };
  const Model huge = Model::load(write_tiny("huge-top-k.gguf", {.more = huge_top_k, .bytes = true}), {.threads = 1});
  REQUIRE(huge.info().warnings.size() == 1);
  CHECK_THAT(huge.info().warnings[0], Catch::Contains("top_k = 2147483648 is invalid"));
  CHECK(ModelAccess::impl(huge).loaded.generation.top_k == 0);
}
