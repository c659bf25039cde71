// Scalar reference elementwise kernels (the oracle for the SIMD versions).
#include <cmath>

#include "kernels/isa_kernels.hpp"

namespace qwenedge::kernels::scalar {

void rmsnorm(const float* x, const float* w, float* y, int64_t n, float eps) noexcept {
  float ss = 0.0f;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * inv * w[i];
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) noexcept {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void softmax(float* x, int64_t n) noexcept {
  if (n <= 0) return;
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::fmax(mx, x[i]);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n) noexcept {
  convert_row_fp32_to_fp16(x, y, n);
}

void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n) noexcept {
  convert_row_fp16_to_fp32(x, y, n);
}

float dot_f16(const float* a, const uint16_t* b, int64_t n) noexcept {
  float acc = 0.0f;
  for (int64_t i = 0; i < n; ++i) acc += a[i] * kernels::fp16_to_fp32(b[i]);
  return acc;
}

void axpy_f16(float a, const uint16_t* x, float* y, int64_t n) noexcept {
  for (int64_t i = 0; i < n; ++i) y[i] += a * kernels::fp16_to_fp32(x[i]);
}

}  // namespace qwenedge::kernels::scalar
