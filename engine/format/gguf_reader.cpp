// GGUF v3 reader. Every read goes through Cursor, which checks bounds with overflow-safe
// arithmetic; every error names the file and the field or tensor at fault.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <unordered_set>
#include <utility>

#include "engine/format/gguf.hpp"
#include "qwenedge/error.hpp"

namespace qwenedge::gguf {
namespace {

// Caps that no real model approaches; they turn absurd counts into clear errors before any
// allocation is attempted.
constexpr uint64_t kMaxKeyLength = 1 << 16;
constexpr uint64_t kMaxStringLength = uint64_t{1} << 30;
constexpr uint64_t kMaxDims = 4;
constexpr int kMaxArrayDepth = 8;

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  throw Error(ErrorCode::kBadModelFile, file + ": " + what);
}

// Overflow-checked a * b and a + b.
bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_mul_overflow(a, b, out); }
bool add_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_add_overflow(a, b, out); }

class Cursor {
 public:
  Cursor(const uint8_t* base, uint64_t size, const std::string& file)
      : base_(base), size_(size), file_(file) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  const uint8_t* take(uint64_t n, const std::string& what) {
    if (n > size_ - pos_) {
      fail(file_, "truncated file: " + what + " needs " + std::to_string(n) + " bytes at offset " +
                      std::to_string(pos_) + ", but the file has " + std::to_string(size_) + " bytes");
    }
    const uint8_t* p = base_ + pos_;
    pos_ += n;
    return p;
  }

  template <typename T>
  T read(const std::string& what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));
    return v;
  }

  // The hot path for the ~300k strings of a tokenizer: no message is built unless it fails.
  bool try_read_string(std::string_view& out) {
    uint64_t len;
    if (size_ - pos_ < 8) return false;
    std::memcpy(&len, base_ + pos_, 8);
    if (len > kMaxStringLength || len > size_ - pos_ - 8) return false;
    out = {reinterpret_cast<const char*>(base_ + pos_ + 8), static_cast<size_t>(len)};
    pos_ += 8 + len;
    return true;
  }

  std::string_view read_string(const std::string& what, uint64_t max_len = kMaxStringLength) {
    const uint64_t len = read<uint64_t>(what + " length");
    if (len > max_len) {
      fail(file_, what + ": string length " + std::to_string(len) + " exceeds the limit of " +
                      std::to_string(max_len));
    }
    const uint8_t* p = take(len, what);
    return {reinterpret_cast<const char*>(p), static_cast<size_t>(len)};
  }

 private:
  const uint8_t* base_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& file_;
};

uint64_t scalar_size(ValueType t) {
  switch (t) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kBool: return 1;
    case ValueType::kUint16: case ValueType::kInt16: return 2;
    case ValueType::kUint32: case ValueType::kInt32: case ValueType::kFloat32: return 4;
    case ValueType::kUint64: case ValueType::kInt64: case ValueType::kFloat64: return 8;
    default: return 0;
  }
}

bool is_known_value_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::kFloat64); }

void read_scalar(Cursor& c, ValueType t, Value& v, const std::string& what) {
  switch (t) {
    case ValueType::kUint8: v.u64 = c.read<uint8_t>(what); break;
    case ValueType::kInt8: v.i64 = c.read<int8_t>(what); break;
    case ValueType::kUint16: v.u64 = c.read<uint16_t>(what); break;
    case ValueType::kInt16: v.i64 = c.read<int16_t>(what); break;
    case ValueType::kUint32: v.u64 = c.read<uint32_t>(what); break;
    case ValueType::kInt32: v.i64 = c.read<int32_t>(what); break;
    case ValueType::kUint64: v.u64 = c.read<uint64_t>(what); break;
    case ValueType::kInt64: v.i64 = c.read<int64_t>(what); break;
    case ValueType::kFloat32: v.f64 = c.read<float>(what); break;
    case ValueType::kFloat64: v.f64 = c.read<double>(what); break;
    case ValueType::kBool: {
      const uint8_t b = c.read<uint8_t>(what);
      if (b > 1) throw Error(ErrorCode::kBadModelFile, what + ": bool value " + std::to_string(b));
      v.u64 = b;
      break;
    }
    default: break;
  }
}

void read_value(Cursor& c, ValueType t, Value& v, const std::string& file, const std::string& what,
                int depth) {
  v.type = t;
  if (t == ValueType::kString) {
    v.str = c.read_string(what);
    return;
  }
  if (t != ValueType::kArray) {
    read_scalar(c, t, v, file + ": " + what);
    return;
  }
  if (depth >= kMaxArrayDepth) fail(file, what + ": arrays nested deeper than " + std::to_string(kMaxArrayDepth));
  const uint32_t et = c.read<uint32_t>(what + " element type");
  if (!is_known_value_type(et)) fail(file, what + ": unknown array element type " + std::to_string(et));
  v.elem_type = static_cast<ValueType>(et);
  v.count = c.read<uint64_t>(what + " element count");
  if (v.elem_type == ValueType::kString) {
    // Each string takes at least its 8-byte length, so a count beyond remaining/8 cannot fit.
    uint64_t min_bytes = 0;
    if (mul_overflows(v.count, 8, &min_bytes) || min_bytes > c.remaining()) {
      fail(file, what + ": string array count " + std::to_string(v.count) + " does not fit in the file");
    }
    v.strings.resize(v.count);
    for (uint64_t i = 0; i < v.count; ++i) {
      if (!c.try_read_string(v.strings[i])) c.read_string(what + "[" + std::to_string(i) + "]");  // throws, naming it
    }
  } else if (v.elem_type == ValueType::kArray) {
    uint64_t min_bytes = 0;
    if (mul_overflows(v.count, 12, &min_bytes) || min_bytes > c.remaining()) {
      fail(file, what + ": array count " + std::to_string(v.count) + " does not fit in the file");
    }
    v.items.resize(v.count);
    for (uint64_t i = 0; i < v.count; ++i) {
      read_value(c, ValueType::kArray, v.items[i], file, what + "[" + std::to_string(i) + "]", depth + 1);
    }
  } else {
    uint64_t bytes = 0;
    if (mul_overflows(v.count, scalar_size(v.elem_type), &bytes)) {
      fail(file, what + ": array count " + std::to_string(v.count) + " overflows");
    }
    v.data = c.take(bytes, what + " (" + std::to_string(v.count) + " elements)");
    if (v.elem_type == ValueType::kBool) {
      for (uint64_t i = 0; i < v.count; ++i) {
        if (v.data[i] > 1) fail(file, what + "[" + std::to_string(i) + "]: bool value " + std::to_string(v.data[i]));
      }
    }
  }
}

}  // namespace

const char* value_type_name(ValueType t) noexcept {
  switch (t) {
    case ValueType::kUint8: return "uint8";
    case ValueType::kInt8: return "int8";
    case ValueType::kUint16: return "uint16";
    case ValueType::kInt16: return "int16";
    case ValueType::kUint32: return "uint32";
    case ValueType::kInt32: return "int32";
    case ValueType::kFloat32: return "float32";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "string";
    case ValueType::kArray: return "array";
    case ValueType::kUint64: return "uint64";
    case ValueType::kInt64: return "int64";
    case ValueType::kFloat64: return "float64";
  }
  return "unknown";
}

const char* tensor_type_name(TensorType t) noexcept {
  switch (t) {
    case TensorType::kF32: return "F32";
    case TensorType::kF16: return "F16";
    case TensorType::kQ4_0: return "Q4_0";
    case TensorType::kQ8_0: return "Q8_0";
    case TensorType::kBF16: return "BF16";
    case TensorType::kQ4_0_R8: return "Q4_0_R8";
    case TensorType::kQ8_0_R8: return "Q8_0_R8";
  }
  return "unknown";
}

TensorType block_type(TensorType t) noexcept {
  switch (t) {
    case TensorType::kQ4_0_R8: return TensorType::kQ4_0;
    case TensorType::kQ8_0_R8: return TensorType::kQ8_0;
    default: return t;
  }
}

bool is_row_interleaved(TensorType t) noexcept { return block_type(t) != t; }

int64_t tensor_type_block_elems(TensorType t) noexcept {
  const TensorType b = block_type(t);
  return (b == TensorType::kQ4_0 || b == TensorType::kQ8_0) ? 32 : 1;
}

int64_t tensor_type_block_bytes(TensorType t) noexcept {
  switch (block_type(t)) {
    case TensorType::kF32: return 4;
    case TensorType::kF16: case TensorType::kBF16: return 2;
    case TensorType::kQ4_0: return 18;
    case TensorType::kQ8_0: return 34;
    default: return 0;
  }
}

uint64_t tensor_bytes(TensorType t, const std::vector<uint64_t>& ne) noexcept {
  uint64_t rows = 1;
  for (size_t i = 1; i < ne.size(); ++i) rows *= ne[i];
  if (is_row_interleaved(t)) rows = (rows + kInterleavedRows - 1) / kInterleavedRows * kInterleavedRows;
  return ne.empty() ? 0 : tensor_row_bytes(t, ne[0]) * rows;
}

uint64_t tensor_row_bytes(TensorType t, uint64_t elems) noexcept {
  return elems / static_cast<uint64_t>(tensor_type_block_elems(t)) *
         static_cast<uint64_t>(tensor_type_block_bytes(t));
}

uint64_t TensorInfo::elements() const {
  uint64_t n = 1;
  for (uint64_t d : ne) n *= d;
  return n;
}

File File::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kIo, path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorCode::kIo, path + ": not a regular file");
  }
  File f;
  f.path_ = path;
  f.size_ = static_cast<uint64_t>(st.st_size);
  if (f.size_ > 0) {
    void* p = ::mmap(nullptr, f.size_, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      throw Error(ErrorCode::kIo, path + ": cannot map: " + std::strerror(err));
    }
    f.base_ = static_cast<const uint8_t*>(p);
    f.mapped_ = true;
  }
  ::close(fd);  // the mapping keeps the file open
  f.parse();
  return f;
}

File File::from_memory(const uint8_t* bytes, uint64_t size, const std::string& name) {
  File f;
  f.path_ = name;
  f.base_ = bytes;
  f.size_ = size;
  f.parse();
  return f;
}

File::File(File&& o) noexcept { *this = std::move(o); }

File& File::operator=(File&& o) noexcept {
  if (this != &o) {
    release();
    path_ = std::move(o.path_);
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
    mapped_ = std::exchange(o.mapped_, false);
    version_ = o.version_;
    alignment_ = o.alignment_;
    data_offset_ = o.data_offset_;
    kv_ = std::move(o.kv_);
    tensors_ = std::move(o.tensors_);
  }
  return *this;
}

File::~File() { release(); }

void File::release() noexcept {
  if (mapped_ && base_) ::munmap(const_cast<uint8_t*>(base_), size_);
  base_ = nullptr;
  mapped_ = false;
}

void File::prefetch() const {
  if (mapped_ && size_ > data_offset_) {
    ::madvise(const_cast<uint8_t*>(base_), size_, MADV_WILLNEED);
  }
}

void File::populate(const uint8_t* p, uint64_t n) const {
#ifndef MADV_POPULATE_READ
  constexpr int MADV_POPULATE_READ = 22;  // Linux 5.14; older kernels answer EINVAL: no harm
#endif
  if (!mapped_ || p < base_ || n > size_ || p - base_ > static_cast<std::ptrdiff_t>(size_ - n)) return;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p) / page * page;
  ::madvise(reinterpret_cast<void*>(begin), reinterpret_cast<uintptr_t>(p) + n - begin, MADV_POPULATE_READ);
}

void File::evict(const uint8_t* p, uint64_t n) const {
  if (!mapped_ || p < base_ || n > size_ || p - base_ > static_cast<std::ptrdiff_t>(size_ - n)) return;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

namespace {

// One tensor info record: name, shape, type and offset, each checked.
TensorInfo read_tensor_info(Cursor& c, uint64_t i, uint64_t alignment, const std::string& path) {
  TensorInfo t;
  t.name = std::string(c.read_string("tensor name #" + std::to_string(i), kMaxKeyLength));
  const std::string what = "tensor " + t.name;
  const uint32_t n_dims = c.read<uint32_t>(what + " dimension count");
  if (n_dims == 0 || n_dims > kMaxDims) {
    fail(path, what + ": dimension count " + std::to_string(n_dims) + " (expected 1.." + std::to_string(kMaxDims) + ")");
  }
  uint64_t elems = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    const uint64_t ne = c.read<uint64_t>(what + " ne[" + std::to_string(d) + "]");
    if (ne == 0 || mul_overflows(elems, ne, &elems) || elems > (uint64_t{1} << 40)) {
      fail(path, what + ": ne[" + std::to_string(d) + "] = " + std::to_string(ne) + " gives an invalid element count");
    }
    t.ne.push_back(ne);
  }
  const uint32_t type = c.read<uint32_t>(what + " type");
  switch (type) {
    case 0: case 1: case 2: case 8: case 30: case 1002: case 1008: t.type = static_cast<TensorType>(type); break;
    default:
      fail(path, what + ": unsupported tensor type " + std::to_string(type) +
                      " (supported: F32, F16, BF16, Q8_0, Q4_0, and this engine's Q8_0_R8, Q4_0_R8)");
  }
  if (is_row_interleaved(t.type) && n_dims != 2) {
    fail(path, what + ": " + tensor_type_name(t.type) + " with " + std::to_string(n_dims) + " dimensions (it is for matrices only)");
  }
  const auto block = static_cast<uint64_t>(tensor_type_block_elems(t.type));
  if (t.ne[0] % block != 0) {
    fail(path, what + ": ne[0] = " + std::to_string(t.ne[0]) + " is not a multiple of the " +
                    tensor_type_name(t.type) + " block size " + std::to_string(block));
  }
  // elems <= 2^40 and a block is at most 34 bytes per 32 elements (4 per element for F32), so
  // the byte count, padding rows included, cannot overflow.
  t.bytes = tensor_bytes(t.type, t.ne);
  t.offset = c.read<uint64_t>(what + " offset");
  if (t.offset % alignment != 0) {
    fail(path, what + ": offset " + std::to_string(t.offset) + " is not a multiple of the alignment " + std::to_string(alignment));
  }
  return t;
}

// Every tensor lies inside the file and no two overlap.
void check_layout(const std::vector<TensorInfo>& tensors, uint64_t data_offset, uint64_t size, const std::string& path) {
  std::vector<const TensorInfo*> by_offset;
  by_offset.reserve(tensors.size());
  for (const TensorInfo& t : tensors) {
    uint64_t end = 0;
    if (add_overflows(data_offset, t.offset, &end) || add_overflows(end, t.bytes, &end) || end > size) {
      fail(path, "tensor " + t.name + ": data [" + std::to_string(t.offset) + ", +" + std::to_string(t.bytes) +
                      ") lies past the end of the file (data section " + std::to_string(size - std::min(size, data_offset)) + " bytes)");
    }
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& prev = *by_offset[i - 1];
    if (prev.offset + prev.bytes > by_offset[i]->offset) {
      fail(path, "tensors " + prev.name + " and " + by_offset[i]->name + " overlap (offsets " +
                      std::to_string(prev.offset) + " + " + std::to_string(prev.bytes) + " > " +
                      std::to_string(by_offset[i]->offset) + ")");
    }
  }
}

}  // namespace

void File::parse() {
  Cursor c(base_, size_, path_);
  const uint32_t magic = c.read<uint32_t>("magic");
  if (magic != kMagic) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08x", magic);
    fail(path_, std::string("not a GGUF file: magic is ") + hex + ", expected 0x46554747 (\"GGUF\")");
  }
  version_ = c.read<uint32_t>("version");
  if (version_ != 2 && version_ != 3) {
    fail(path_, "unsupported GGUF version " + std::to_string(version_) + " (supported: 2, 3)");
  }
  const uint64_t n_tensors = c.read<uint64_t>("tensor count");
  const uint64_t n_kv = c.read<uint64_t>("metadata count");
  // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes, a tensor info at least
  // 8 + 4 + 4 + 8 bytes: reject counts the file cannot possibly hold before reserving anything.
  uint64_t min_bytes = 0;
  if (mul_overflows(n_kv, 13, &min_bytes) || min_bytes > c.remaining()) {
    fail(path_, "metadata count " + std::to_string(n_kv) + " does not fit in the file");
  }
  if (mul_overflows(n_tensors, 24, &min_bytes) || min_bytes > c.remaining()) {
    fail(path_, "tensor count " + std::to_string(n_tensors) + " does not fit in the file");
  }

  kv_.reserve(n_kv);
  std::unordered_set<std::string_view> keys;
  for (uint64_t i = 0; i < n_kv; ++i) {
    KeyValue kv;
    const std::string_view key = c.read_string("metadata key #" + std::to_string(i), kMaxKeyLength);
    kv.key = std::string(key);
    const uint32_t t = c.read<uint32_t>("type of " + kv.key);
    if (!is_known_value_type(t)) fail(path_, "metadata " + kv.key + ": unknown value type " + std::to_string(t));
    read_value(c, static_cast<ValueType>(t), kv.value, path_, "metadata " + kv.key, 0);
    if (!keys.insert(key).second) fail(path_, "metadata key " + kv.key + " appears twice");
    kv_.push_back(std::move(kv));
  }

  if (const Value* a = find("general.alignment")) {
    if (a->type != ValueType::kUint32) {
      fail(path_, std::string("general.alignment has type ") + value_type_name(a->type) + ", expected uint32");
    }
    if (a->u64 == 0 || (a->u64 & (a->u64 - 1)) != 0 || a->u64 > 65536) {
      fail(path_, "general.alignment " + std::to_string(a->u64) + " is not a power of two <= 65536");
    }
    alignment_ = a->u64;
  }

  tensors_.reserve(n_tensors);
  std::unordered_set<std::string> names;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo t = read_tensor_info(c, i, alignment_, path_);
    if (!names.insert(t.name).second) fail(path_, "tensor " + t.name + " appears twice");
    tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment after the header.
  uint64_t data_offset = 0;
  if (add_overflows(c.pos(), alignment_ - 1, &data_offset)) fail(path_, "header size overflows");
  data_offset_ = data_offset / alignment_ * alignment_;
  if (data_offset_ > size_ && !tensors_.empty()) {
    fail(path_, "truncated file: data section starts at " + std::to_string(data_offset_) + " past the end (" + std::to_string(size_) + " bytes)");
  }

  check_layout(tensors_, data_offset_, size_, path_);
}

const Value* File::find(std::string_view key) const {
  for (const KeyValue& kv : kv_) {
    if (kv.key == key) return &kv.value;
  }
  return nullptr;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  for (const TensorInfo& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

namespace {

const Value& require(const File& f, std::string_view key) {
  const Value* v = f.find(key);
  if (!v) fail(f.path(), "missing metadata key " + std::string(key));
  return *v;
}

bool is_unsigned(ValueType t) {
  return t == ValueType::kUint8 || t == ValueType::kUint16 || t == ValueType::kUint32 || t == ValueType::kUint64;
}
bool is_signed(ValueType t) {
  return t == ValueType::kInt8 || t == ValueType::kInt16 || t == ValueType::kInt32 || t == ValueType::kInt64;
}

[[noreturn]] void wrong_type(const File& f, std::string_view key, const Value& v, const char* expected) {
  fail(f.path(), "metadata " + std::string(key) + " has type " + value_type_name(v.type) + ", expected " + expected);
}

}  // namespace

std::string_view File::get_string(std::string_view key) const {
  const Value& v = require(*this, key);
  if (v.type != ValueType::kString) wrong_type(*this, key, v, "string");
  return v.str;
}

uint64_t File::get_u64(std::string_view key) const {
  const Value& v = require(*this, key);
  if (is_unsigned(v.type)) return v.u64;
  if (is_signed(v.type)) {
    if (v.i64 < 0) fail(path_, "metadata " + std::string(key) + " = " + std::to_string(v.i64) + " is negative");
    return static_cast<uint64_t>(v.i64);
  }
  wrong_type(*this, key, v, "an integer");
}

uint32_t File::get_u32(std::string_view key) const {
  const uint64_t v = get_u64(key);
  if (v > std::numeric_limits<uint32_t>::max()) {
    fail(path_, "metadata " + std::string(key) + " = " + std::to_string(v) + " does not fit in 32 bits");
  }
  return static_cast<uint32_t>(v);
}

int64_t File::get_i64(std::string_view key) const {
  const Value& v = require(*this, key);
  if (is_signed(v.type)) return v.i64;
  if (is_unsigned(v.type)) {
    if (v.u64 > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      fail(path_, "metadata " + std::string(key) + " = " + std::to_string(v.u64) + " is too large");
    }
    return static_cast<int64_t>(v.u64);
  }
  wrong_type(*this, key, v, "an integer");
}

float File::get_f32(std::string_view key) const {
  const Value& v = require(*this, key);
  if (v.type == ValueType::kFloat32 || v.type == ValueType::kFloat64) return static_cast<float>(v.f64);
  if (is_unsigned(v.type)) return static_cast<float>(v.u64);
  if (is_signed(v.type)) return static_cast<float>(v.i64);
  wrong_type(*this, key, v, "a number");
}

bool File::get_bool(std::string_view key) const {
  const Value& v = require(*this, key);
  if (v.type != ValueType::kBool) wrong_type(*this, key, v, "bool");
  return v.u64 != 0;
}

const std::vector<std::string_view>& File::get_string_array(std::string_view key) const {
  const Value& v = require(*this, key);
  if (v.type != ValueType::kArray || v.elem_type != ValueType::kString) wrong_type(*this, key, v, "array of string");
  return v.strings;
}

namespace {

// Array elements as Out, each read with memcpy (GGUF data is little-endian and need not be
// aligned); the array's bytes were bounds-checked at open. One typed loop per element type: the
// token-type array of a 150k vocab is read on every model load.
template <typename T, typename Out>
void widen(const uint8_t* data, uint64_t count, Out* out) {
  for (uint64_t i = 0; i < count; ++i) {
    T x;
    std::memcpy(&x, data + i * sizeof(T), sizeof(T));
    out[i] = static_cast<Out>(x);
  }
}

}  // namespace

std::vector<int64_t> File::get_int_array(std::string_view key) const {
  const Value& v = require(*this, key);
  const ValueType t = v.type == ValueType::kArray ? v.elem_type : ValueType::kArray;
  if (!is_signed(t) && !is_unsigned(t)) wrong_type(*this, key, v, "array of integers");
  std::vector<int64_t> out(v.count);
  switch (t) {
    case ValueType::kUint8: widen<uint8_t>(v.data, v.count, out.data()); break;
    case ValueType::kInt8: widen<int8_t>(v.data, v.count, out.data()); break;
    case ValueType::kUint16: widen<uint16_t>(v.data, v.count, out.data()); break;
    case ValueType::kInt16: widen<int16_t>(v.data, v.count, out.data()); break;
    case ValueType::kUint32: widen<uint32_t>(v.data, v.count, out.data()); break;
    case ValueType::kInt32: widen<int32_t>(v.data, v.count, out.data()); break;
    case ValueType::kUint64: widen<uint64_t>(v.data, v.count, out.data()); break;
    case ValueType::kInt64: widen<int64_t>(v.data, v.count, out.data()); break;
    default: break;
  }
  return out;
}

std::vector<double> File::get_float_array(std::string_view key) const {
  const Value& v = require(*this, key);
  const ValueType t = v.type == ValueType::kArray ? v.elem_type : ValueType::kArray;
  if (t != ValueType::kFloat32 && t != ValueType::kFloat64) wrong_type(*this, key, v, "array of floats");
  std::vector<double> out(v.count);
  if (t == ValueType::kFloat32) {
    widen<float>(v.data, v.count, out.data());
  } else {
    widen<double>(v.data, v.count, out.data());
  }
  return out;
}

}  // namespace qwenedge::gguf
