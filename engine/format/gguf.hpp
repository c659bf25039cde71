// GGUF v3 model files: a bounds-checked, memory-mapped reader and a streaming writer.
//
// Layout (all little-endian):
//   header   magic "GGUF", u32 version, u64 tensor_count, u64 kv_count
//   kv_count × (string key, u32 value_type, value)
//   tensor_count × (string name, u32 n_dims, n_dims × u64 ne, u32 type, u64 offset)
//   padding to general.alignment (default 32), then the tensor data section.
// A string is u64 length + bytes (no terminator). ne[0] is the innermost (contiguous) dimension.
//
// A model file is untrusted input: every count, length, offset and size is checked before use,
// with overflow-safe arithmetic, and every error names the file and the field or tensor at fault.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qwenedge::gguf {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr uint32_t kVersion = 3;
inline constexpr uint64_t kDefaultAlignment = 32;

enum class ValueType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5, kFloat32 = 6,
  kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};
const char* value_type_name(ValueType t) noexcept;

// The GGUF tensor types this engine reads and writes. Other ids are rejected by name.
// Q8_0_R8 / Q4_0_R8 are this engine's own ids (1000 + the id of their blocks' type, far from
// the shared ones, so that other GGUF readers reject them by id instead of misreading them):
// the same blocks as Q8_0 / Q4_0 with rows interleaved in groups of 8, the layout the x86
// kernels read (kernels/pack.hpp); 2-D only, the last group padded to 8 rows with zeros.
enum class TensorType : uint32_t { kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ8_0 = 8, kBF16 = 30, kQ4_0_R8 = 1002, kQ8_0_R8 = 1008 };
inline constexpr uint64_t kInterleavedRows = 8;
const char* tensor_type_name(TensorType t) noexcept;
// Q8_0_R8 -> Q8_0, Q4_0_R8 -> Q4_0; every other type is its own block type.
TensorType block_type(TensorType t) noexcept;
bool is_row_interleaved(TensorType t) noexcept;
// Elements per block and bytes per block (1 and sizeof(element) for the float types).
int64_t tensor_type_block_elems(TensorType t) noexcept;
int64_t tensor_type_block_bytes(TensorType t) noexcept;
// Bytes of one row of `elems` elements; elems must be a multiple of the block size.
uint64_t tensor_row_bytes(TensorType t, uint64_t elems) noexcept;
// Bytes of a whole tensor of shape ne (valid: counts checked, ne[0] whole blocks; interleaved
// types 2-D), padding of an interleaved type's last group included.
uint64_t tensor_bytes(TensorType t, const std::vector<uint64_t>& ne) noexcept;

// One metadata value. Scalars live in the matching field; arrays keep their element type and,
// for numeric arrays, a pointer into the mapped file (little-endian, unaligned: read with memcpy
// or the typed helpers). String arrays are views into the mapping.
struct Value {
  ValueType type = ValueType::kUint8;
  uint64_t u64 = 0;         // every unsigned integer type and bool
  int64_t i64 = 0;          // every signed integer type
  double f64 = 0.0;         // float32 and float64
  std::string_view str;     // kString
  // kArray:
  ValueType elem_type = ValueType::kUint8;
  uint64_t count = 0;
  const uint8_t* data = nullptr;           // numeric array elements
  std::vector<std::string_view> strings;   // string array elements
  std::vector<Value> items;                // array-of-arrays elements
};

struct KeyValue {
  std::string key;
  Value value;
};

struct TensorInfo {
  std::string name;
  TensorType type = TensorType::kF32;
  std::vector<uint64_t> ne;  // ne[0] innermost; a matrix of rows×cols has ne = {cols, rows}
  uint64_t offset = 0;       // from the start of the data section
  uint64_t bytes = 0;
  uint64_t elements() const;
};

// A read-only, memory-mapped GGUF file. Move-only; the mapping lives as long as the object.
class File {
 public:
  // Opens and validates the whole header. Throws qwenedge::Error (kIo or kBadModelFile).
  static File open(const std::string& path);
  // Parses an in-memory image (used by the fuzzer and tests). `bytes` must outlive the File.
  static File from_memory(const uint8_t* bytes, uint64_t size, const std::string& name);

  File(File&&) noexcept;
  File& operator=(File&&) noexcept;
  ~File();

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t file_size() const { return size_; }
  uint64_t data_offset() const { return data_offset_; }

  const std::vector<KeyValue>& metadata() const { return kv_; }
  const Value* find(std::string_view key) const;

  // Typed getters: throw kBadModelFile naming the key when it is missing or of the wrong type.
  // Integer getters accept any integer type whose value fits.
  std::string_view get_string(std::string_view key) const;
  uint64_t get_u64(std::string_view key) const;
  uint32_t get_u32(std::string_view key) const;
  int64_t get_i64(std::string_view key) const;
  float get_f32(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  const std::vector<std::string_view>& get_string_array(std::string_view key) const;
  std::vector<int64_t> get_int_array(std::string_view key) const;
  std::vector<double> get_float_array(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  const uint8_t* tensor_data(const TensorInfo& t) const { return base_ + data_offset_ + t.offset; }

  // Advises the kernel that the tensor data will be read soon / sequentially.
  void prefetch() const;
  // Maps the file pages of [p, p + n) into the process now (they must be in the page cache or
  // are read), so the first pass over them takes no page faults. Best effort.
  void populate(const uint8_t* p, uint64_t n) const;
  // Drops the whole pages inside [p, p + n) from this process's memory (they stay in the page
  // cache, and a later read maps them again). For data that has been copied elsewhere. Does
  // nothing for an in-memory image.
  void evict(const uint8_t* p, uint64_t n) const;

 private:
  File() = default;
  void parse();
  void release() noexcept;

  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  bool mapped_ = false;
  uint32_t version_ = 0;
  uint64_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<KeyValue> kv_;
  std::vector<TensorInfo> tensors_;
};

// Writes a GGUF v3 file in one pass: set metadata, declare every tensor, then stream tensor data
// in declaration order. Offsets are computed at declaration, so no tensor has to be held in
// memory beyond the one being written. Throws qwenedge::Error (kIo) on write failure.
class Writer {
 public:
  explicit Writer(std::string path, uint64_t alignment = kDefaultAlignment);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void set_string(std::string key, std::string value);
  void set_u32(std::string key, uint32_t value);
  void set_i32(std::string key, int32_t value);
  void set_u64(std::string key, uint64_t value);
  void set_f32(std::string key, float value);
  void set_bool(std::string key, bool value);
  void set_string_array(std::string key, const std::vector<std::string>& values);
  void set_i32_array(std::string key, const std::vector<int32_t>& values);
  void set_f32_array(std::string key, const std::vector<float>& values);

  // ne[0] innermost. Returns the tensor's offset in the data section.
  uint64_t add_tensor(std::string name, TensorType type, std::vector<uint64_t> ne);

  // Writes the header (first call) then bytes of the next declared tensor. A tensor may be
  // written in several chunks; it is complete when its declared size has been written.
  // Tensors must be written in the order they were declared.
  void write_tensor_data(std::string_view name, const void* data, uint64_t bytes);

  // Writes the header if no tensor was written, checks every tensor was written, closes the file.
  void finish();

 private:
  void write_header();

  std::string path_;
  uint64_t alignment_;
  std::vector<uint8_t> kv_bytes_;
  uint64_t kv_count_ = 0;
  std::vector<TensorInfo> tensors_;
  uint64_t data_size_ = 0;
  size_t next_tensor_ = 0;
  uint64_t written_ = 0;  // bytes of tensors_[next_tensor_] written so far
  bool header_written_ = false;
  bool finished_ = false;
  std::FILE* out_ = nullptr;
};

}  // namespace qwenedge::gguf
