// qwen-convert end to end: determinism, metadata, and bad Hugging Face directories.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/format/gguf.hpp"
#include "qwenedge/convert.hpp"
#include "qwenedge/error.hpp"
#include "qwenedge/inspect.hpp"
#include "test_util.hpp"

using namespace qwenedge;
namespace fs = std::filesystem;

namespace {

// A scratch copy of a fixture checkpoint: big files are linked, small ones copied, so a test
// can break one file without touching the fixture.
std::string scratch_copy(const std::string& fixture_dir, const std::string& name) {
  const fs::path dst = fs::temp_directory_path() / "qwenedge-test-convert" / name;
  fs::remove_all(dst);
  fs::create_directories(dst);
  for (const auto& e : fs::directory_iterator(test::fixture(fixture_dir))) {
    if (e.path().extension() == ".json") fs::copy_file(e.path(), dst / e.path().filename());
    else fs::create_symlink(e.path(), dst / e.path().filename());
  }
  return dst.string();
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

void write_json(const std::string& path, const nlohmann::json& j) { std::ofstream(path) << j.dump(2); }

std::string convert_error(const std::string& dir, ErrorCode expected) {
  const std::string out = (fs::temp_directory_path() / "qwenedge-test-convert" / "out.gguf").string();
  try {
    convert_hf_to_gguf(dir, out, {.type = WeightType::kF32});
  } catch (const Error& e) {
    CHECK(e.code() == expected);
    CHECK_FALSE(fs::exists(out));
    CHECK_FALSE(fs::exists(out + ".tmp"));
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("Sharded and single-file checkpoints convert to byte-identical files", "[convert]") {
  const auto single = test::read_bytes(test::fixture("tiny-f32.f32.gguf"));
  REQUIRE(single.size() > 1000);
  CHECK(single == test::read_bytes(test::fixture("tiny-f32-sharded.f32.gguf")));
  CHECK(test::read_bytes(test::fixture("tiny-bf16.bf16.gguf")) == test::read_bytes(test::fixture("tiny-bf16-sharded.bf16.gguf")));
}

TEST_CASE("Converting twice gives identical files", "[convert]") {
  CHECK(test::read_bytes(test::fixture("tiny-f32.q8_0.gguf")) == test::read_bytes(test::fixture("tiny-f32.q8_0.again.gguf")));
}

TEST_CASE("Converted files carry the config, tokenizer, template and generation defaults", "[convert]") {
  const gguf::File f = gguf::File::open(test::fixture("tiny-f32.q4_0.gguf"));
  CHECK(f.get_string("general.architecture") == "qwen2");
  CHECK(f.get_u32("general.file_type") == 2);
  CHECK(f.get_u32("qwen2.embedding_length") == 64);
  CHECK(f.get_u32("qwen2.block_count") == 3);
  CHECK(f.get_u32("qwen2.attention.head_count") == 4);
  CHECK(f.get_u32("qwen2.attention.head_count_kv") == 2);
  CHECK(f.get_u32("qwen2.feed_forward_length") == 96);
  CHECK(f.get_f32("qwen2.rope.freq_base") == 1e6f);
  CHECK(f.get_string("tokenizer.ggml.model") == "gpt2");
  CHECK(f.get_string("tokenizer.ggml.pre") == "qwen2");
  CHECK(f.get_string_array("tokenizer.ggml.tokens").size() == 151936);
  CHECK(f.get_string_array("tokenizer.ggml.tokens")[9707] == "Hello");
  CHECK(f.get_string_array("tokenizer.ggml.merges").size() > 150000);
  CHECK(f.get_u32("tokenizer.ggml.eos_token_id") == 151645);
  CHECK(f.get_string("tokenizer.chat_template").find("<|im_start|>") != std::string_view::npos);
  CHECK(f.get_int_array("qwenedge.generation.eos_token_ids") == std::vector<int64_t>{151645, 151643});
  CHECK(f.get_f32("qwenedge.generation.temperature") == Approx(0.7f));

  // Tied: no output.weight; Q4_0 keeps the embedding in Q8_0; norms and biases stay F32.
  CHECK(f.tensors().size() == 1 + 3 * 12 + 1);
  CHECK(f.find_tensor("output.weight") == nullptr);
  CHECK(f.find_tensor("token_embd.weight")->type == gguf::TensorType::kQ8_0);
  CHECK(f.find_tensor("blk.1.ffn_down.weight")->type == gguf::TensorType::kQ4_0);
  CHECK(f.find_tensor("blk.1.ffn_down.weight")->ne == std::vector<uint64_t>{96, 64});
  CHECK(f.find_tensor("blk.2.attn_q.bias")->type == gguf::TensorType::kF32);

  const gguf::File u = gguf::File::open(test::fixture("tiny-untied.q4_0.gguf"));
  CHECK(u.tensors().size() == 1 + 3 * 12 + 2);
  CHECK(u.find_tensor("output.weight")->type == gguf::TensorType::kQ8_0);
}

TEST_CASE("qwen-inspect's library side lists the tensor table", "[convert]") {
  const GgufSummary s = inspect_gguf(test::fixture("tiny-untied.f16.gguf"));
  CHECK(s.version == 3);
  REQUIRE(s.tensors.size() == 39);
  CHECK(s.tensors[0].name == "token_embd.weight");
  CHECK(s.tensors[0].type == "F16");
  CHECK(s.tensors[0].shape == std::vector<uint64_t>{64, 151936});
  CHECK(s.tensors[0].bytes == 64 * 151936 * 2);
  bool found = false;
  for (const auto& m : s.metadata) {
    if (m.key == "tokenizer.ggml.tokens") {
      found = true;
      CHECK(m.type == "array[string]");
      CHECK_THAT(m.value, Catch::Contains("(151936 items)"));
    }
  }
  CHECK(found);
}

TEST_CASE("Directory without config.json", "[convert][bad-input]") {
  const std::string dir = scratch_copy("hf/tiny-f32", "noconfig");
  fs::remove(fs::path(dir) / "config.json");
  CHECK_THAT(convert_error(dir, ErrorCode::kIo), Catch::Contains("config.json: missing"));
}

TEST_CASE("Tensor missing from the checkpoint", "[convert][bad-input]") {
  const std::string dir = scratch_copy("hf/tiny-f32-sharded", "missing");
  const std::string index = dir + "/model.safetensors.index.json";
  nlohmann::json j = read_json(index);
  j["weight_map"].erase("model.layers.1.mlp.up_proj.weight");
  write_json(index, j);
  CHECK_THAT(convert_error(dir, ErrorCode::kBadModelFile), Catch::Contains("tensor model.layers.1.mlp.up_proj.weight is missing"));
}

TEST_CASE("Shard file missing", "[convert][bad-input]") {
  const std::string dir = scratch_copy("hf/tiny-f32-sharded", "noshard");
  fs::remove(fs::path(dir) / "model-00002-of-00003.safetensors");
  CHECK_THAT(convert_error(dir, ErrorCode::kIo), Catch::Contains("model-00002-of-00003.safetensors: cannot open"));
}

TEST_CASE("Shape that disagrees with config.json", "[convert][bad-input]") {
  const std::string dir = scratch_copy("hf/tiny-f32", "shape");
  nlohmann::json j = read_json(dir + "/config.json");
  j["intermediate_size"] = 128;
  write_json(dir + "/config.json", j);
  CHECK_THAT(convert_error(dir, ErrorCode::kBadModelFile),
             Catch::Contains("tensor model.layers.0.mlp.gate_proj.weight has shape [96, 64], config.json implies [128, 64]"));
}

TEST_CASE("config.json of another architecture or with bad values", "[convert][bad-input]") {
  const std::string dir = scratch_copy("hf/tiny-f32", "arch");
  nlohmann::json j = read_json(dir + "/config.json");
  j["model_type"] = "llama";
  write_json(dir + "/config.json", j);
  CHECK_THAT(convert_error(dir, ErrorCode::kUnsupported), Catch::Contains("model_type is \"llama\""));
  j["model_type"] = "qwen2";
  j["num_key_value_heads"] = 3;
  write_json(dir + "/config.json", j);
  CHECK_THAT(convert_error(dir, ErrorCode::kBadModelFile), Catch::Contains("head count 4 is not a multiple of the key/value head count 3"));
  j["num_key_value_heads"] = "two";
  write_json(dir + "/config.json", j);
  CHECK_THAT(convert_error(dir, ErrorCode::kBadModelFile), Catch::Contains("\"num_key_value_heads\" is not an integer"));
  std::ofstream(dir + "/config.json") << "{ not json";
  CHECK_THAT(convert_error(dir, ErrorCode::kBadModelFile), Catch::Contains("invalid JSON"));
}

TEST_CASE("Truncated or corrupt safetensors", "[convert][bad-input]") {
  const std::string dir = scratch_copy("hf/tiny-f32", "truncated");
  const fs::path st = fs::path(dir) / "model.safetensors";
  std::vector<uint8_t> bytes = test::read_bytes(fs::read_symlink(st).string());
  fs::remove(st);
  test::write_bytes(st.string(), std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(bytes.size() / 2)));
  CHECK_THAT(convert_error(dir, ErrorCode::kBadModelFile), Catch::Contains("data_offsets"));
  bytes[0] = 0xff, bytes[1] = 0xff, bytes[2] = 0xff, bytes[3] = 0x7f;  // header length past the end
  test::write_bytes(st.string(), bytes);
  CHECK_THAT(convert_error(dir, ErrorCode::kBadModelFile), Catch::Contains("header length"));
}

TEST_CASE("qwen-convert CLI: bad options give usage errors", "[convert][cli]") {
  const std::string cli = QWEN_CONVERT;
  CHECK(WEXITSTATUS(std::system((cli + " 2>/dev/null").c_str())) == 2);
  CHECK(WEXITSTATUS(std::system((cli + " a b --type q5_k 2>/dev/null").c_str())) == 2);
  CHECK(WEXITSTATUS(std::system((cli + " /nonexistent out.gguf 2>/dev/null").c_str())) == 1);
  CHECK(WEXITSTATUS(std::system((cli + " --help >/dev/null").c_str())) == 0);
}
