#include "engine/format/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "kernels/quant.hpp"
#include "qwenedge/error.hpp"

namespace qwenedge::detail {
namespace {

constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;  // the format's own limit

[[noreturn]] void bad(const std::string& file, const std::string& what) {
  throw Error(ErrorCode::kBadModelFile, file + ": " + what);
}

void pread_all(int fd, void* dst, uint64_t bytes, uint64_t offset, const std::string& path) {
  auto* p = static_cast<uint8_t*>(dst);
  while (bytes > 0) {
    const ssize_t n = ::pread(fd, p, bytes, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(ErrorCode::kIo, path + ": read failed at offset " + std::to_string(offset) + ": " +
                                                (n == 0 ? "unexpected end of file" : std::strerror(errno)));
    p += n;
    bytes -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
}

}  // namespace

const char* safetensors_dtype_name(SafetensorsDtype t) noexcept {
  switch (t) {
    case SafetensorsDtype::kF32: return "F32";
    case SafetensorsDtype::kF16: return "F16";
    case SafetensorsDtype::kBF16: return "BF16";
  }
  return "?";
}

int64_t safetensors_dtype_size(SafetensorsDtype t) noexcept { return t == SafetensorsDtype::kF32 ? 4 : 2; }

SafetensorsCheckpoint::SafetensorsCheckpoint(SafetensorsCheckpoint&& o) noexcept
    : files_(std::move(o.files_)), tensors_(std::move(o.tensors_)) {
  o.files_.clear();
}

SafetensorsCheckpoint& SafetensorsCheckpoint::operator=(SafetensorsCheckpoint&& o) noexcept {
  if (this != &o) {
    for (FileHandle& f : files_) ::close(f.fd);
    files_ = std::move(o.files_);
    tensors_ = std::move(o.tensors_);
    o.files_.clear();
  }
  return *this;
}

SafetensorsCheckpoint::~SafetensorsCheckpoint() {
  for (FileHandle& f : files_) ::close(f.fd);
}

SafetensorsCheckpoint SafetensorsCheckpoint::open_file(const std::string& path) {
  SafetensorsCheckpoint c;
  c.add_file(path, nullptr);
  return c;
}

SafetensorsCheckpoint SafetensorsCheckpoint::open_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  SafetensorsCheckpoint c;
  const fs::path single = fs::path(dir) / "model.safetensors";
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  if (fs::exists(index)) {
    std::ifstream in(index, std::ios::binary);
    if (!in) throw Error(ErrorCode::kIo, index.string() + ": cannot open");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      bad(index.string(), std::string("invalid JSON: ") + e.what());
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
      bad(index.string(), "missing \"weight_map\" object");
    }
    // shard file -> the tensor names the index assigns to it
    std::map<std::string, std::vector<std::string>> shards;
    for (const auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string()) bad(index.string(), "weight_map[\"" + name + "\"] is not a file name");
      const std::string f = file.get<std::string>();
      if (f.empty() || f.find('/') != std::string::npos || f == "..") {
        bad(index.string(), "weight_map[\"" + name + "\"] = \"" + f + "\" is not a plain file name");
      }
      shards[f].push_back(name);
    }
    for (const auto& [file, names] : shards) c.add_file((fs::path(dir) / file).string(), &names);
    for (const auto& [file, names] : shards) {
      for (const std::string& n : names) {
        if (!c.tensors_.count(n)) bad((fs::path(dir) / file).string(), "tensor " + n + " listed in the index is missing");
      }
    }
  } else if (fs::exists(single)) {
    c.add_file(single.string(), nullptr);
  } else {
    throw Error(ErrorCode::kIo, dir + ": no model.safetensors or model.safetensors.index.json");
  }
  return c;
}

void SafetensorsCheckpoint::add_file(const std::string& path, const std::vector<std::string>* only_names) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kIo, path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorCode::kIo, path + ": not a regular file");
  }
  files_.push_back({path, fd, static_cast<uint64_t>(st.st_size)});
  const size_t file_index = files_.size() - 1;
  const uint64_t size = files_.back().size;

  uint64_t header_len = 0;
  if (size < 8) bad(path, "truncated: " + std::to_string(size) + " bytes, not a safetensors file");
  pread_all(fd, &header_len, 8, 0, path);
  if (header_len > kMaxHeaderBytes || header_len > size - 8) {
    bad(path, "header length " + std::to_string(header_len) + " exceeds the file size " + std::to_string(size));
  }
  std::string header(header_len, '\0');
  pread_all(fd, header.data(), header_len, 8, path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& e) {
    bad(path, std::string("invalid JSON header: ") + e.what());
  }
  if (!j.is_object()) bad(path, "header is not a JSON object");

  const uint64_t data_begin = 8 + header_len;
  const uint64_t data_size = size - data_begin;
  std::set<std::string> wanted;
  if (only_names) wanted.insert(only_names->begin(), only_names->end());
  for (const auto& [name, info] : j.items()) {
    if (name == "__metadata__") continue;
    if (only_names && !wanted.count(name)) continue;
    const std::string what = "tensor " + name;
    if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") || !info.contains("data_offsets")) {
      bad(path, what + ": needs dtype, shape and data_offsets");
    }
    SafetensorsTensor t;
    t.name = name;
    t.file = file_index;
    const std::string dtype = info["dtype"].is_string() ? info["dtype"].get<std::string>() : info["dtype"].dump();
    if (dtype == "F32") t.dtype = SafetensorsDtype::kF32;
    else if (dtype == "F16") t.dtype = SafetensorsDtype::kF16;
    else if (dtype == "BF16") t.dtype = SafetensorsDtype::kBF16;
    else throw Error(ErrorCode::kUnsupported, path + ": " + what + " has dtype " + dtype + " (supported: F32, F16, BF16)");
    const auto& shape = info["shape"];
    const auto& offs = info["data_offsets"];
    if (!shape.is_array() || shape.size() > 8) bad(path, what + ": shape " + shape.dump() + " is not a list of dimensions");
    uint64_t elems = 1;
    for (const auto& d : shape) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > (uint64_t{1} << 40)) bad(path, what + ": bad dimension " + d.dump());
      t.shape.push_back(d.get<int64_t>());
      if (__builtin_mul_overflow(elems, d.get<uint64_t>(), &elems) || elems > (uint64_t{1} << 40)) {
        bad(path, what + ": shape " + shape.dump() + " is too large");
      }
    }
    if (!offs.is_array() || offs.size() != 2 || !offs[0].is_number_unsigned() || !offs[1].is_number_unsigned()) {
      bad(path, what + ": data_offsets " + offs.dump() + " is not [begin, end]");
    }
    const uint64_t b = offs[0].get<uint64_t>(), e = offs[1].get<uint64_t>();
    const uint64_t expect = elems * static_cast<uint64_t>(safetensors_dtype_size(t.dtype));
    if (e < b || e > data_size || e - b != expect) {
      bad(path, what + ": data_offsets [" + std::to_string(b) + ", " + std::to_string(e) + ") do not hold " +
                    std::to_string(expect) + " bytes inside the " + std::to_string(data_size) + "-byte data section");
    }
    t.begin = data_begin + b;
    t.bytes = expect;
    if (!tensors_.emplace(name, std::move(t)).second) bad(path, what + " appears in more than one file");
  }
}

const SafetensorsTensor* SafetensorsCheckpoint::find(const std::string& name) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

void SafetensorsCheckpoint::read_f32(const SafetensorsTensor& t, uint64_t first, uint64_t count, float* out) const {
  const auto esize = static_cast<uint64_t>(safetensors_dtype_size(t.dtype));
  const FileHandle& f = files_[t.file];
  if ((first + count) * esize > t.bytes) {
    throw Error(ErrorCode::kInternal, f.path + ": read past the end of tensor " + t.name);
  }
  const uint64_t offset = t.begin + first * esize;
  if (t.dtype == SafetensorsDtype::kF32) {
    pread_all(f.fd, out, count * 4, offset, f.path);
    return;
  }
  // 16-bit sources: read into the upper half of `out`, then widen in place from the front
  // (element i is read from byte 2·(count + i) >= 4·i, so nothing is overwritten before use).
  auto* half = reinterpret_cast<uint16_t*>(out) + count;
  pread_all(f.fd, half, count * 2, offset, f.path);
  for (uint64_t i = 0; i < count; ++i) {
    uint16_t h;
    std::memcpy(&h, half + i, 2);
    out[i] = t.dtype == SafetensorsDtype::kBF16 ? kernels::bf16_to_fp32(h) : kernels::fp16_to_fp32(h);
  }
}

}  // namespace qwenedge::detail
