// Hugging Face safetensors checkpoints: one file, or shards listed by model.safetensors.index.json.
// Tensors are read with pread in caller-sized chunks, so converting a model never holds more
// than one chunk of it in memory.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace qwenedge::detail {

enum class SafetensorsDtype { kF32, kF16, kBF16 };
const char* safetensors_dtype_name(SafetensorsDtype t) noexcept;
int64_t safetensors_dtype_size(SafetensorsDtype t) noexcept;

struct SafetensorsTensor {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<int64_t> shape;  // outermost first, as in PyTorch
  uint64_t begin = 0;          // absolute byte offset in its file
  uint64_t bytes = 0;
  size_t file = 0;             // index into the checkpoint's files
};

class SafetensorsCheckpoint {
 public:
  // `dir` holds model.safetensors or model.safetensors.index.json + its shards. Throws
  // qwenedge::Error naming the file and tensor at fault.
  static SafetensorsCheckpoint open_dir(const std::string& dir);
  // One .safetensors file.
  static SafetensorsCheckpoint open_file(const std::string& path);

  SafetensorsCheckpoint(SafetensorsCheckpoint&&) noexcept;
  SafetensorsCheckpoint& operator=(SafetensorsCheckpoint&&) noexcept;
  ~SafetensorsCheckpoint();

  const SafetensorsTensor* find(const std::string& name) const;
  const std::map<std::string, SafetensorsTensor>& tensors() const { return tensors_; }
  const std::string& file_path(size_t i) const { return files_[i].path; }

  // Reads elements [first, first + count) of a tensor, converted to fp32.
  void read_f32(const SafetensorsTensor& t, uint64_t first, uint64_t count, float* out) const;

 private:
  struct FileHandle {
    std::string path;
    int fd = -1;
    uint64_t size = 0;
  };
  SafetensorsCheckpoint() = default;
  void add_file(const std::string& path, const std::vector<std::string>* only_names);

  std::vector<FileHandle> files_;
  std::map<std::string, SafetensorsTensor> tensors_;
};

}  // namespace qwenedge::detail
