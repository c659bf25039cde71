#include "qwenedge/inspect.hpp"

#include <cstdio>
#include <cstring>

#include "engine/format/gguf.hpp"

namespace qwenedge {
namespace {

using gguf::Value;
using gguf::ValueType;

std::string scalar_text(ValueType t, const Value& v) {
  switch (t) {
    case ValueType::kUint8: case ValueType::kUint16: case ValueType::kUint32: case ValueType::kUint64:
      return std::to_string(v.u64);
    case ValueType::kInt8: case ValueType::kInt16: case ValueType::kInt32: case ValueType::kInt64:
      return std::to_string(v.i64);
    case ValueType::kFloat32: case ValueType::kFloat64: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.9g", v.f64);
      return buf;
    }
    case ValueType::kBool: return v.u64 ? "true" : "false";
    default: return "";
  }
}

// Quotes a string for display: control characters and quotes are escaped, long ones cut.
std::string quoted(std::string_view s, size_t max_len = 120) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < max_len; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') { out += '\\'; out += static_cast<char>(c); }
    else if (c == '\n') out += "\\n";
    else if (c < 0x20 || c == 0x7f) { char b[8]; std::snprintf(b, sizeof b, "\\x%02x", c); out += b; }
    else out += static_cast<char>(c);
  }
  if (s.size() > max_len) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out + "\"";
}

uint64_t scalar_bytes(ValueType t) {
  switch (t) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kBool: return 1;
    case ValueType::kUint16: case ValueType::kInt16: return 2;
    case ValueType::kUint32: case ValueType::kInt32: case ValueType::kFloat32: return 4;
    default: return 8;
  }
}

Value element(const Value& arr, uint64_t i) {
  Value e;
  const uint8_t* p = arr.data + i * scalar_bytes(arr.elem_type);
  switch (arr.elem_type) {
    case ValueType::kUint8: case ValueType::kBool: e.u64 = p[0]; break;
    case ValueType::kInt8: e.i64 = static_cast<int8_t>(p[0]); break;
    case ValueType::kUint16: { uint16_t x; std::memcpy(&x, p, 2); e.u64 = x; break; }
    case ValueType::kInt16: { int16_t x; std::memcpy(&x, p, 2); e.i64 = x; break; }
    case ValueType::kUint32: { uint32_t x; std::memcpy(&x, p, 4); e.u64 = x; break; }
    case ValueType::kInt32: { int32_t x; std::memcpy(&x, p, 4); e.i64 = x; break; }
    case ValueType::kFloat32: { float x; std::memcpy(&x, p, 4); e.f64 = x; break; }
    case ValueType::kUint64: { uint64_t x; std::memcpy(&x, p, 8); e.u64 = x; break; }
    case ValueType::kInt64: { int64_t x; std::memcpy(&x, p, 8); e.i64 = x; break; }
    case ValueType::kFloat64: { double x; std::memcpy(&x, p, 8); e.f64 = x; break; }
    default: break;
  }
  return e;
}

std::string value_text(const Value& v, size_t max_items) {
  if (v.type == ValueType::kString) return quoted(v.str);
  if (v.type != ValueType::kArray) return scalar_text(v.type, v);
  std::string out = "[";
  const uint64_t shown = std::min<uint64_t>(v.count, max_items);
  for (uint64_t i = 0; i < shown; ++i) {
    if (i) out += ", ";
    if (v.elem_type == ValueType::kString) out += quoted(v.strings[i], 40);
    else if (v.elem_type == ValueType::kArray) out += value_text(v.items[i], max_items);
    else out += scalar_text(v.elem_type, element(v, i));
  }
  if (v.count > shown) out += ", ... (" + std::to_string(v.count) + " items)";
  return out + "]";
}

std::string type_text(const Value& v) {
  if (v.type != ValueType::kArray) return gguf::value_type_name(v.type);
  return std::string("array[") + gguf::value_type_name(v.elem_type) + "]";
}

}  // namespace

GgufSummary inspect_gguf(const std::string& path, size_t max_array_items) {
  const gguf::File f = gguf::File::open(path);
  GgufSummary s;
  s.path = path;
  s.version = f.version();
  s.alignment = f.alignment();
  s.file_bytes = f.file_size();
  for (const gguf::KeyValue& kv : f.metadata()) s.metadata.push_back({kv.key, type_text(kv.value), value_text(kv.value, max_array_items)});
  for (const gguf::TensorInfo& t : f.tensors()) {
    s.tensors.push_back({t.name, gguf::tensor_type_name(t.type), t.ne, f.data_offset() + t.offset, t.bytes});
  }
  return s;
}

}  // namespace qwenedge
