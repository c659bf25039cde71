// Reading a GGUF file's metadata and tensor table without loading the model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qwenedge {

struct GgufTensorEntry {
  std::string name;
  std::string type;            // "F32", "F16", "BF16", "Q8_0", "Q4_0"
  std::vector<uint64_t> shape; // GGUF order: shape[0] is the innermost dimension
  uint64_t offset = 0;         // absolute offset in the file
  uint64_t bytes = 0;
};

struct GgufMetadataEntry {
  std::string key;
  std::string type;   // "uint32", "string", "array[string]", ...
  std::string value;  // printable value; long arrays are summarised
};

struct GgufSummary {
  std::string path;
  uint32_t version = 0;
  uint64_t alignment = 0;
  uint64_t file_bytes = 0;
  std::vector<GgufMetadataEntry> metadata;
  std::vector<GgufTensorEntry> tensors;
};

// Validates the whole header (as the model loader would) and lists it. Throws qwenedge::Error.
// Arrays longer than `max_array_items` are shown as their first items and a count.
GgufSummary inspect_gguf(const std::string& path, size_t max_array_items = 8);

}  // namespace qwenedge
