#include "engine/format/tensor_codec.hpp"

#include <cstring>

#include "kernels/quant.hpp"

namespace qwenedge::detail {

gguf::TensorType to_tensor_type(WeightType t) noexcept {
  switch (t) {
    case WeightType::kF32: return gguf::TensorType::kF32;
    case WeightType::kF16: return gguf::TensorType::kF16;
    case WeightType::kBF16: return gguf::TensorType::kBF16;
    case WeightType::kQ8_0: return gguf::TensorType::kQ8_0;
    case WeightType::kQ4_0: return gguf::TensorType::kQ4_0;
  }
  return gguf::TensorType::kF32;
}

void encode_rows(gguf::TensorType type, const float* src, int64_t rows, int64_t cols, uint8_t* dst) {
  const uint64_t row_bytes = gguf::tensor_row_bytes(type, static_cast<uint64_t>(cols));
  for (int64_t r = 0; r < rows; ++r, src += cols, dst += row_bytes) {
    switch (gguf::block_type(type)) {  // interleaved types: the caller interleaves the rows
      case gguf::TensorType::kF32: std::memcpy(dst, src, row_bytes); break;
      case gguf::TensorType::kF16: kernels::convert_row_fp32_to_fp16(src, reinterpret_cast<uint16_t*>(dst), cols); break;
      case gguf::TensorType::kBF16: kernels::convert_row_fp32_to_bf16(src, reinterpret_cast<uint16_t*>(dst), cols); break;
      case gguf::TensorType::kQ8_0: kernels::quantize_row_q8_0(src, reinterpret_cast<kernels::BlockQ8_0*>(dst), cols); break;
      case gguf::TensorType::kQ4_0: kernels::quantize_row_q4_0(src, reinterpret_cast<kernels::BlockQ4_0*>(dst), cols); break;
      default: break;
    }
  }
}

void decode_row(gguf::TensorType type, const uint8_t* src, int64_t cols, float* dst) {
  switch (type) {  // interleaved types have no rows of their own: never asked
    case gguf::TensorType::kF32: std::memcpy(dst, src, static_cast<size_t>(cols) * 4); break;
    case gguf::TensorType::kF16: kernels::convert_row_fp16_to_fp32(reinterpret_cast<const uint16_t*>(src), dst, cols); break;
    case gguf::TensorType::kBF16: kernels::convert_row_bf16_to_fp32(reinterpret_cast<const uint16_t*>(src), dst, cols); break;
    case gguf::TensorType::kQ8_0: kernels::dequantize_row_q8_0(reinterpret_cast<const kernels::BlockQ8_0*>(src), dst, cols); break;
    case gguf::TensorType::kQ4_0: kernels::dequantize_row_q4_0(reinterpret_cast<const kernels::BlockQ4_0*>(src), dst, cols); break;
    default: break;
  }
}

}  // namespace qwenedge::detail
