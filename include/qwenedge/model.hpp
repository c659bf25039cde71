// qwenedge::Model — a loaded GGUF model: weights, tokenizer, chat template, generation defaults.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qwenedge {

namespace detail {
struct ModelImpl;
struct ModelAccess;
}
class Tokenizer;

struct LoadOptions {
  int threads = 0;        // threads per session step; 0 = the machine's physical cores
  // KV-cache length (positions) of sessions; 0 = 4096 or the model's own limit if smaller.
  // A value above the model's limit is an error.
  int64_t context = 0;
  bool prefetch = true;   // ask the kernel to read the weights in ahead of the first token
};

struct ModelInfo {
  std::string path;
  std::string name;          // general.name, or the file name
  std::string architecture;  // "qwen2"
  std::string weight_type;   // storage type of the FFN matrices: "Q8_0", "Q4_0", "F16", ...
  int64_t vocab_size = 0;
  int64_t hidden = 0;
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t ffn = 0;
  int64_t context_length = 0;  // the model's own limit
  uint64_t parameters = 0;
  uint64_t file_bytes = 0;
  uint64_t decode_bytes = 0;     // weight bytes one decode step reads: every layer matrix and the head
  std::vector<int32_t> eos_ids;  // every id that ends a turn
  std::string isa;               // the kernel path in use: "avx2", "avx512", "neon", "scalar", ...
  // Messages about a model file the engine worked around, e.g. "qwenedge.generation.top_p = 0
  // is invalid (expected 0 < top_p <= 1): using 1" (an invalid sampling default replaced by the
  // value used when the key is absent). Empty for a sound file; tools show them at load.
  std::vector<std::string> warnings;
};

// A tool call of an assistant message (OpenAI style: a function name and JSON arguments).
struct ToolCall {
  std::string name;
  std::string arguments;  // JSON text
};

struct Message {
  std::string role;     // "system", "user", "assistant" or "tool"
  std::string content;
  std::vector<ToolCall> tool_calls;  // assistant messages only
};

// Immutable after load; copies share the same weights. Any number of sessions on any number of
// threads may use one Model at once.
class Model {
 public:
  // Throws qwenedge::Error: kIo (missing/unreadable), kBadModelFile (malformed), kUnsupported
  // (not a qwen2 model), kInvalidArgument (options out of range).
  static Model load(const std::string& path, const LoadOptions& options = {});

  const ModelInfo& info() const;
  const LoadOptions& options() const;

  // Text <-> token ids. parse_special: text such as "<|im_end|>" becomes the special token
  // (off by default: user text is just text).
  std::vector<int32_t> tokenize(std::string_view text, bool parse_special = false) const;
  std::string detokenize(std::span<const int32_t> ids, bool skip_special = false) const;

  // The prompt text the chat template renders (tools: JSON texts of tool definitions).
  std::string render_chat(const std::vector<Message>& messages, bool add_generation_prompt = true,
                          const std::vector<std::string>& tools = {}) const;

  // The model's tokenizer (shared: it lives as long as any copy of it or of the model).
  const Tokenizer& tokenizer() const;

 private:
  friend struct detail::ModelAccess;
  explicit Model(std::shared_ptr<const detail::ModelImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const detail::ModelImpl> impl_;
};

// The number of physical cores (hyper-threads counted once), at least 1.
int physical_cores();

}  // namespace qwenedge
