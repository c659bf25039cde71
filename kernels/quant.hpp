// Scalar number formats and the GGUF quantized block layouts (Q8_0, Q4_0).
//
// These definitions are the ground truth that every SIMD kernel is tested against:
// the layouts are byte-identical to the GGUF standard blocks, and the quantizers follow the
// GGUF reference rounding so that files written here match files written by other GGUF tools.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace qwenedge::kernels {

inline constexpr int kBlockSize = 32;  // weights per Q8_0 / Q4_0 block

// Q8_0: 32 int8 weights sharing one fp16 scale. value = d * qs[i]. 34 bytes, 8.5 bits/weight.
struct BlockQ8_0 {
  uint16_t d;            // fp16 scale
  int8_t qs[kBlockSize];
};
static_assert(sizeof(BlockQ8_0) == 34);

// Q4_0: 32 4-bit weights offset by 8 sharing one fp16 scale. value = d * (q - 8).
// Byte j holds element j in its low nibble and element j+16 in its high nibble. 18 bytes, 4.5 bits/weight.
struct BlockQ4_0 {
  uint16_t d;                 // fp16 scale
  uint8_t qs[kBlockSize / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

// IEEE binary16 <-> binary32; fp32_to_fp16 rounds to nearest even, keeps inf/NaN.
float fp16_to_fp32(uint16_t h) noexcept;
uint16_t fp32_to_fp16(float f) noexcept;

// bfloat16 <-> binary32; fp32_to_bf16 rounds to nearest even, quiets NaN.
inline float bf16_to_fp32(uint16_t h) noexcept {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
uint16_t fp32_to_bf16(float f) noexcept;

// Row conversions. n is the number of weights; for the block formats it must be a multiple of 32.
void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n) noexcept;
void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n) noexcept;
void quantize_row_q4_0(const float* x, BlockQ4_0* y, int64_t n) noexcept;
void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t n) noexcept;
void convert_row_fp32_to_fp16(const float* x, uint16_t* y, int64_t n) noexcept;
void convert_row_fp16_to_fp32(const uint16_t* x, float* y, int64_t n) noexcept;
void convert_row_fp32_to_bf16(const float* x, uint16_t* y, int64_t n) noexcept;
void convert_row_bf16_to_fp32(const uint16_t* x, float* y, int64_t n) noexcept;

}  // namespace qwenedge::kernels
