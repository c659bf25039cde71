// Scalar conversions and the GGUF reference quantizers. See quant.hpp.
#include "kernels/quant.hpp"

#include <algorithm>
#include <cmath>

namespace qwenedge::kernels {
namespace {

uint32_t float_bits(float f) noexcept {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float bits_float(uint32_t u) noexcept {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Rounds half away from zero like roundf, and maps NaN to 0 so a hostile input is never UB.
int8_t round_to_i8(float v) noexcept {
  if (!(v == v)) return 0;
  return static_cast<int8_t>(std::clamp(std::round(v), -127.0f, 127.0f));
}

}  // namespace

float fp16_to_fp32(uint16_t h) noexcept {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24 is exact in fp32.
    const float f = static_cast<float>(mant) * 0x1p-24f;
    return sign ? -f : f;
  }
  return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
}

uint16_t fp32_to_fp16(float f) noexcept {
  const uint32_t x = float_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t a = x & 0x7fffffffu;
  if (a >= 0x7f800000u) {  // inf stays inf; NaN stays a quiet NaN
    return static_cast<uint16_t>(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u | ((a >> 13) & 0x3ffu) : 0u));
  }
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to inf
  if (a < 0x38800000u) {
    // Below 2^-14 the result is subnormal: adding 0.5 makes the fp32 ulp equal the fp16 subnormal
    // ulp (2^-24), so the FPU's round-to-nearest-even does the rounding.
    const float r = bits_float(a) + 0.5f;
    return static_cast<uint16_t>(sign | (float_bits(r) - 0x3f000000u));
  }
  const uint32_t mant_odd = (a >> 13) & 1u;
  a += 0xc8000fffu + mant_odd;  // rebias exponent 127 -> 15 and round to nearest even
  return static_cast<uint16_t>(sign | (a >> 13));
}

uint16_t fp32_to_bf16(float f) noexcept {
  const uint32_t x = float_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n) noexcept {
  for (int64_t b = 0; b < n / kBlockSize; ++b, x += kBlockSize) {
    float amax = 0.0f;
    for (int j = 0; j < kBlockSize; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    for (int j = 0; j < kBlockSize; ++j) y[b].qs[j] = round_to_i8(x[j] * id);
  }
}

void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n) noexcept {
  for (int64_t b = 0; b < n / kBlockSize; ++b, y += kBlockSize) {
    const float d = fp16_to_fp32(x[b].d);
    for (int j = 0; j < kBlockSize; ++j) y[j] = d * static_cast<float>(x[b].qs[j]);
  }
}

void quantize_row_q4_0(const float* x, BlockQ4_0* y, int64_t n) noexcept {
  for (int64_t b = 0; b < n / kBlockSize; ++b, x += kBlockSize) {
    // The scale maps the value of largest magnitude, with its sign, to -8: the 4-bit grid is
    // asymmetric (-8..7), and this uses its longer side.
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kBlockSize; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    auto q4 = [](float v) -> uint8_t {
      const float t = v + 8.5f;  // truncation of v + 8.5 == round half up of v, offset by 8
      if (!(t > 0.0f)) return 0;
      return static_cast<uint8_t>(std::min(15, static_cast<int>(std::min(t, 16.0f))));
    };
    for (int j = 0; j < kBlockSize / 2; ++j) {
      y[b].qs[j] = static_cast<uint8_t>(q4(x[j] * id) | (q4(x[j + kBlockSize / 2] * id) << 4));
    }
  }
}

void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t n) noexcept {
  for (int64_t b = 0; b < n / kBlockSize; ++b, y += kBlockSize) {
    const float d = fp16_to_fp32(x[b].d);
    for (int j = 0; j < kBlockSize / 2; ++j) {
      y[j] = d * static_cast<float>((x[b].qs[j] & 0x0f) - 8);
      y[j + kBlockSize / 2] = d * static_cast<float>((x[b].qs[j] >> 4) - 8);
    }
  }
}

void convert_row_fp32_to_fp16(const float* x, uint16_t* y, int64_t n) noexcept {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}
void convert_row_fp16_to_fp32(const uint16_t* x, float* y, int64_t n) noexcept {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}
void convert_row_fp32_to_bf16(const float* x, uint16_t* y, int64_t n) noexcept {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
}
void convert_row_bf16_to_fp32(const uint16_t* x, float* y, int64_t n) noexcept {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_fp32(x[i]);
}

}  // namespace qwenedge::kernels
