#include "engine/format/model_config.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/format/gguf.hpp"
#include "qwenedge/error.hpp"

namespace qwenedge::detail {
namespace {

constexpr int64_t kMaxDim = int64_t{1} << 20;  // far above any Qwen2 width; catches garbage

[[noreturn]] void bad(const std::string& source, const std::string& what) {
  throw Error(ErrorCode::kBadModelFile, source + ": " + what);
}

void check_range(const std::string& source, const char* name, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi) {
    bad(source, std::string(name) + " = " + std::to_string(v) + " is out of range [" + std::to_string(lo) +
                    ", " + std::to_string(hi) + "]");
  }
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}
std::string number(int64_t v) { return std::to_string(v); }

// Keeps `read` in `field` when valid; otherwise leaves the fallback there and says so.
template <class Read, class Field>
void take_valid(Field& field, Read read, bool valid, const char* key, const char* expected, std::vector<std::string>& warnings) {
  if (valid) {
    field = static_cast<Field>(read);
  } else {
    warnings.push_back(std::string(key) + " = " + number(read) + " is invalid (expected " + expected + "): using " +
                       number(static_cast<Read>(field)));
  }
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, path + ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    bad(path, std::string("invalid JSON: ") + e.what());
  }
}

int64_t json_int(const nlohmann::json& j, const std::string& path, const char* key) {
  const auto it = j.find(key);
  if (it == j.end()) bad(path, std::string("missing \"") + key + "\"");
  if (!it->is_number_integer()) bad(path, std::string("\"") + key + "\" is not an integer: " + it->dump());
  return it->get<int64_t>();
}

double json_number(const nlohmann::json& j, const std::string& path, const char* key, double def) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_number()) bad(path, std::string("\"") + key + "\" is not a number: " + it->dump());
  return it->get<double>();
}

}  // namespace

void validate_config(const ModelConfig& c, const std::string& source) {
  check_range(source, "vocab size", c.vocab_size, 1, int64_t{1} << 24);
  check_range(source, "hidden size", c.hidden, 1, kMaxDim);
  check_range(source, "layer count", c.n_layers, 1, 4096);
  check_range(source, "attention head count", c.n_heads, 1, 4096);
  check_range(source, "key/value head count", c.n_kv_heads, 1, c.n_heads);
  check_range(source, "feed-forward size", c.ffn, 1, kMaxDim);
  check_range(source, "context length", c.context_length, 1, int64_t{1} << 24);
  if (c.hidden % c.n_heads != 0) {
    bad(source, "hidden size " + std::to_string(c.hidden) + " is not a multiple of the head count " + std::to_string(c.n_heads));
  }
  if (c.n_heads % c.n_kv_heads != 0) {
    bad(source, "head count " + std::to_string(c.n_heads) + " is not a multiple of the key/value head count " +
                    std::to_string(c.n_kv_heads));
  }
  if (c.head_dim != c.hidden / c.n_heads || c.head_dim % 2 != 0) {
    bad(source, "head dimension " + std::to_string(c.head_dim) + " must be hidden/heads and even (RoPE rotates pairs)");
  }
  if (!(c.rope_theta > 0.0f) || !std::isfinite(c.rope_theta)) bad(source, "rope theta " + std::to_string(c.rope_theta) + " is not positive");
  if (!(c.rms_eps > 0.0f) || !(c.rms_eps < 1.0f)) bad(source, "RMSNorm epsilon " + std::to_string(c.rms_eps) + " is not in (0, 1)");
}

ModelConfig read_config(const gguf::File& f) {
  const std::string_view arch = f.get_string("general.architecture");
  if (arch != "qwen2") {
    throw Error(ErrorCode::kUnsupported, f.path() + ": general.architecture is \"" + std::string(arch) +
                                             "\", this engine runs \"qwen2\" models");
  }
  ModelConfig c;
  c.context_length = static_cast<int64_t>(f.get_u32("qwen2.context_length"));
  c.hidden = static_cast<int64_t>(f.get_u32("qwen2.embedding_length"));
  c.n_layers = static_cast<int64_t>(f.get_u32("qwen2.block_count"));
  c.ffn = static_cast<int64_t>(f.get_u32("qwen2.feed_forward_length"));
  c.n_heads = static_cast<int64_t>(f.get_u32("qwen2.attention.head_count"));
  c.n_kv_heads = f.find("qwen2.attention.head_count_kv") ? static_cast<int64_t>(f.get_u32("qwen2.attention.head_count_kv"))
                                                          : c.n_heads;
  c.rope_theta = f.find("qwen2.rope.freq_base") ? f.get_f32("qwen2.rope.freq_base") : 10000.0f;
  c.rms_eps = f.get_f32("qwen2.attention.layer_norm_rms_epsilon");
  if (c.n_heads > 0) c.head_dim = c.hidden / c.n_heads;
  if (f.find("qwen2.vocab_size")) c.vocab_size = static_cast<int64_t>(f.get_u32("qwen2.vocab_size"));
  c.tied_embeddings = f.find_tensor("output.weight") == nullptr;
  return c;
}

void write_config(gguf::Writer& w, const ModelConfig& c) {
  w.set_u32("qwen2.context_length", static_cast<uint32_t>(c.context_length));
  w.set_u32("qwen2.embedding_length", static_cast<uint32_t>(c.hidden));
  w.set_u32("qwen2.block_count", static_cast<uint32_t>(c.n_layers));
  w.set_u32("qwen2.feed_forward_length", static_cast<uint32_t>(c.ffn));
  w.set_u32("qwen2.attention.head_count", static_cast<uint32_t>(c.n_heads));
  w.set_u32("qwen2.attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
  w.set_f32("qwen2.rope.freq_base", c.rope_theta);
  w.set_f32("qwen2.attention.layer_norm_rms_epsilon", c.rms_eps);
}

GenerationDefaults read_generation_defaults(const gguf::File& f) {
  // The ranges are those of the sampler's validate() (engine/runtime/sampler.cpp), which this
  // layer cannot include; tests/engine/test_model_load.cpp holds the two together. Without this
  // a file with one bad default loads, and then every request that relies on it fails.
  GenerationDefaults g;
  std::vector<std::string>& w = g.warnings;
  if (const char* k = "qwenedge.generation.temperature"; f.find(k)) {
    const double t = f.get_f32(k);
    take_valid(g.temperature, t, std::isfinite(t) && t >= 0 && t <= 100, k, "0 <= temperature <= 100", w);
  }
  if (const char* k = "qwenedge.generation.top_p"; f.find(k)) {
    const double p = f.get_f32(k);
    take_valid(g.top_p, p, std::isfinite(p) && p > 0 && p <= 1, k, "0 < top_p <= 1", w);
  }
  if (const char* k = "qwenedge.generation.top_k"; f.find(k)) {
    const int64_t top_k = f.get_i64(k);
    take_valid(g.top_k, top_k, top_k >= 0 && top_k <= INT32_MAX, k, "0 <= top_k <= 2147483647; 0 = off", w);
  }
  if (const char* k = "qwenedge.generation.repetition_penalty"; f.find(k)) {
    const double r = f.get_f32(k);
    take_valid(g.repetition_penalty, r, std::isfinite(r) && r > 0 && r <= 10, k, "0 < repetition_penalty <= 10", w);
  }
  if (f.find("qwenedge.generation.eos_token_ids")) {
    for (int64_t id : f.get_int_array("qwenedge.generation.eos_token_ids")) g.eos_ids.push_back(static_cast<int32_t>(id));
  }
  if (f.find("tokenizer.ggml.eos_token_id")) {
    const auto eos = static_cast<int32_t>(f.get_u32("tokenizer.ggml.eos_token_id"));
    if (std::find(g.eos_ids.begin(), g.eos_ids.end(), eos) == g.eos_ids.end()) g.eos_ids.push_back(eos);
  }
  return g;
}

void write_generation_defaults(gguf::Writer& w, const GenerationDefaults& g) {
  w.set_f32("qwenedge.generation.temperature", g.temperature);
  w.set_f32("qwenedge.generation.top_p", g.top_p);
  w.set_i32("qwenedge.generation.top_k", g.top_k);
  w.set_f32("qwenedge.generation.repetition_penalty", g.repetition_penalty);
  if (!g.eos_ids.empty()) w.set_i32_array("qwenedge.generation.eos_token_ids", g.eos_ids);
}

ModelConfig read_hf_config(const std::string& path) {
  const nlohmann::json j = read_json(path);
  if (!j.is_object()) bad(path, "not a JSON object");
  const std::string model_type = j.value("model_type", std::string());
  if (model_type != "qwen2") {
    throw Error(ErrorCode::kUnsupported, path + ": model_type is \"" + model_type + "\", expected \"qwen2\"");
  }
  ModelConfig c;
  c.vocab_size = json_int(j, path, "vocab_size");
  c.hidden = json_int(j, path, "hidden_size");
  c.n_layers = json_int(j, path, "num_hidden_layers");
  c.n_heads = json_int(j, path, "num_attention_heads");
  c.n_kv_heads = j.contains("num_key_value_heads") ? json_int(j, path, "num_key_value_heads") : c.n_heads;
  c.ffn = json_int(j, path, "intermediate_size");
  c.context_length = json_int(j, path, "max_position_embeddings");
  c.rope_theta = static_cast<float>(json_number(j, path, "rope_theta", 10000.0));
  c.rms_eps = static_cast<float>(json_number(j, path, "rms_norm_eps", 1e-6));
  c.tied_embeddings = j.value("tie_word_embeddings", false);
  if (c.n_heads > 0) c.head_dim = c.hidden / c.n_heads;
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    throw Error(ErrorCode::kUnsupported, path + ": rope_scaling " + j["rope_scaling"].dump() + " is not supported");
  }
  validate_config(c, path);
  return c;
}

GenerationDefaults read_hf_generation_config(const std::string& path) {
  GenerationDefaults g;
  if (path.empty() || !std::filesystem::exists(path)) return g;
  const nlohmann::json j = read_json(path);
  if (!j.is_object()) bad(path, "not a JSON object");
  const bool do_sample = j.value("do_sample", true);
  g.temperature = do_sample ? static_cast<float>(json_number(j, path, "temperature", 1.0)) : 0.0f;
  g.top_p = static_cast<float>(json_number(j, path, "top_p", 1.0));
  g.top_k = static_cast<int32_t>(json_number(j, path, "top_k", 0.0));
  g.repetition_penalty = static_cast<float>(json_number(j, path, "repetition_penalty", 1.0));
  if (const auto it = j.find("eos_token_id"); it != j.end()) {
    if (it->is_number_integer()) {
      g.eos_ids.push_back(it->get<int32_t>());
    } else if (it->is_array()) {
      for (const auto& e : *it) {
        if (!e.is_number_integer()) bad(path, "eos_token_id entry " + e.dump() + " is not an integer");
        g.eos_ids.push_back(e.get<int32_t>());
      }
    }
  }
  return g;
}

}  // namespace qwenedge::detail
