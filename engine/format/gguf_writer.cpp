// GGUF v3 writer: metadata and tensor infos first, then tensor data streamed in order.
#include <cerrno>
#include <cstring>
#include <vector>

#include "engine/format/gguf.hpp"
#include "qwenedge/error.hpp"

namespace qwenedge::gguf {
namespace {

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

void put_string(std::vector<uint8_t>& out, std::string_view s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

void put_key(std::vector<uint8_t>& out, std::string_view key, ValueType t) {
  put_string(out, key);
  put<uint32_t>(out, static_cast<uint32_t>(t));
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

Writer::Writer(std::string path, uint64_t alignment) : path_(std::move(path)), alignment_(alignment) {
  if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0) {
    throw Error(ErrorCode::kInvalidArgument, "GGUF alignment " + std::to_string(alignment_) + " is not a power of two");
  }
  if (alignment_ != kDefaultAlignment) set_u32("general.alignment", static_cast<uint32_t>(alignment_));
}

Writer::~Writer() {
  if (out_) std::fclose(out_);
}

void Writer::set_string(std::string key, std::string value) {
  put_key(kv_bytes_, key, ValueType::kString);
  put_string(kv_bytes_, value);
  ++kv_count_;
}

void Writer::set_u32(std::string key, uint32_t value) {
  put_key(kv_bytes_, key, ValueType::kUint32);
  put(kv_bytes_, value);
  ++kv_count_;
}

void Writer::set_i32(std::string key, int32_t value) {
  put_key(kv_bytes_, key, ValueType::kInt32);
  put(kv_bytes_, value);
  ++kv_count_;
}

void Writer::set_u64(std::string key, uint64_t value) {
  put_key(kv_bytes_, key, ValueType::kUint64);
  put(kv_bytes_, value);
  ++kv_count_;
}

void Writer::set_f32(std::string key, float value) {
  put_key(kv_bytes_, key, ValueType::kFloat32);
  put(kv_bytes_, value);
  ++kv_count_;
}

void Writer::set_bool(std::string key, bool value) {
  put_key(kv_bytes_, key, ValueType::kBool);
  put<uint8_t>(kv_bytes_, value ? 1 : 0);
  ++kv_count_;
}

void Writer::set_string_array(std::string key, const std::vector<std::string>& values) {
  put_key(kv_bytes_, key, ValueType::kArray);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::kString));
  put<uint64_t>(kv_bytes_, values.size());
  for (const std::string& s : values) put_string(kv_bytes_, s);
  ++kv_count_;
}

void Writer::set_i32_array(std::string key, const std::vector<int32_t>& values) {
  put_key(kv_bytes_, key, ValueType::kArray);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::kInt32));
  put<uint64_t>(kv_bytes_, values.size());
  for (int32_t v : values) put(kv_bytes_, v);
  ++kv_count_;
}

void Writer::set_f32_array(std::string key, const std::vector<float>& values) {
  put_key(kv_bytes_, key, ValueType::kArray);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::kFloat32));
  put<uint64_t>(kv_bytes_, values.size());
  for (float v : values) put(kv_bytes_, v);
  ++kv_count_;
}

uint64_t Writer::add_tensor(std::string name, TensorType type, std::vector<uint64_t> ne) {
  if (header_written_) {
    throw Error(ErrorCode::kInternal, path_ + ": tensor " + name + " declared after data writing began");
  }
  TensorInfo t;
  t.name = std::move(name);
  t.type = type;
  t.ne = std::move(ne);
  if (is_row_interleaved(type) && t.ne.size() != 2) {
    throw Error(ErrorCode::kInvalidArgument, path_ + ": tensor " + t.name + ": " + tensor_type_name(type) + " is for matrices only");
  }
  if (t.ne.empty() || t.ne[0] % static_cast<uint64_t>(tensor_type_block_elems(type)) != 0) {
    throw Error(ErrorCode::kInvalidArgument, path_ + ": tensor " + t.name + ": row of " +
                                                 (t.ne.empty() ? std::string("0") : std::to_string(t.ne[0])) +
                                                 " elements cannot be stored as " + tensor_type_name(type));
  }
  t.bytes = tensor_bytes(type, t.ne);
  t.offset = align_up(data_size_, alignment_);
  data_size_ = t.offset + t.bytes;
  tensors_.push_back(std::move(t));
  return tensors_.back().offset;
}

void Writer::write_header() {
  out_ = std::fopen(path_.c_str(), "wb");
  if (!out_) throw Error(ErrorCode::kIo, path_ + ": cannot create: " + std::strerror(errno));
  std::vector<uint8_t> h;
  put<uint32_t>(h, kMagic);
  put<uint32_t>(h, kVersion);
  put<uint64_t>(h, tensors_.size());
  put<uint64_t>(h, kv_count_);
  h.insert(h.end(), kv_bytes_.begin(), kv_bytes_.end());
  for (const TensorInfo& t : tensors_) {
    put_string(h, t.name);
    put<uint32_t>(h, static_cast<uint32_t>(t.ne.size()));
    for (uint64_t d : t.ne) put<uint64_t>(h, d);
    put<uint32_t>(h, static_cast<uint32_t>(t.type));
    put<uint64_t>(h, t.offset);
  }
  h.resize(align_up(h.size(), alignment_), 0);
  if (std::fwrite(h.data(), 1, h.size(), out_) != h.size()) {
    throw Error(ErrorCode::kIo, path_ + ": write failed: " + std::strerror(errno));
  }
  header_written_ = true;
}

void Writer::write_tensor_data(std::string_view name, const void* data, uint64_t bytes) {
  if (!header_written_) write_header();
  if (next_tensor_ >= tensors_.size() || tensors_[next_tensor_].name != name) {
    throw Error(ErrorCode::kInternal, path_ + ": tensor " + std::string(name) + " written out of declaration order");
  }
  const TensorInfo& t = tensors_[next_tensor_];
  if (bytes > t.bytes - written_) {
    throw Error(ErrorCode::kInternal, path_ + ": tensor " + t.name + " gets " + std::to_string(written_ + bytes) +
                                          " bytes, declared " + std::to_string(t.bytes));
  }
  if (written_ == 0) {
    // Pad from the end of the previous tensor to this tensor's aligned offset.
    const uint64_t prev_end = next_tensor_ == 0 ? 0 : tensors_[next_tensor_ - 1].offset + tensors_[next_tensor_ - 1].bytes;
    static const uint8_t zeros[256] = {};
    for (uint64_t pad = t.offset - prev_end; pad > 0;) {
      const uint64_t n = pad < sizeof zeros ? pad : sizeof zeros;
      if (std::fwrite(zeros, 1, n, out_) != n) throw Error(ErrorCode::kIo, path_ + ": write failed: " + std::strerror(errno));
      pad -= n;
    }
  }
  if (bytes > 0 && std::fwrite(data, 1, bytes, out_) != bytes) {
    throw Error(ErrorCode::kIo, path_ + ": write failed: " + std::strerror(errno));
  }
  written_ += bytes;
  if (written_ == t.bytes) {
    ++next_tensor_;
    written_ = 0;
  }
}

void Writer::finish() {
  if (finished_) return;
  if (!header_written_) write_header();
  if (next_tensor_ != tensors_.size()) {
    throw Error(ErrorCode::kInternal, path_ + ": " + std::to_string(tensors_.size() - next_tensor_) +
                                          " declared tensors were not written (next: " + tensors_[next_tensor_].name + ")");
  }
  const int rc = std::fclose(out_);
  out_ = nullptr;
  if (rc != 0) throw Error(ErrorCode::kIo, path_ + ": close failed: " + std::strerror(errno));
  finished_ = true;
}

}  // namespace qwenedge::gguf
