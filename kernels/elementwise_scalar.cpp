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

// One token and one head at a time: the reference order.
void attend_by_head(const AttendParts& p, const float* q, const int64_t* n, int64_t nt, int64_t ld, int64_t nq,
                    const uint16_t* k, const uint16_t* v, int64_t kv_stride, int64_t dh, float scale,
                    float* scores, float* out) noexcept {
  for (int64_t t = 0; t < nt; ++t) {
    for (int64_t h = 0; h < nq; ++h) {
      const float* qh = q + t * ld + h * dh;
      float* s = scores + h * n[t];
      for (int64_t j = 0; j < n[t]; ++j) s[j] = p.dot_f16(qh, k + j * kv_stride, dh) * scale;
      p.softmax(s, n[t]);
      float* o = out + t * ld + h * dh;
      for (int64_t i = 0; i < dh; ++i) o[i] = 0.0f;
      for (int64_t j = 0; j < n[t]; ++j) p.axpy_f16(s[j], v + j * kv_stride, o, dh);
    }
  }
}

void attend_f16(const float* q, const int64_t* n, int64_t nt, int64_t ld, int64_t nq, const uint16_t* k,
                const uint16_t* v, int64_t kv_stride, int64_t dh, float scale, float* scratch, float* out) noexcept {
  attend_by_head({dot_f16, softmax, axpy_f16}, q, n, nt, ld, nq, k, v, kv_stride, dh, scale, scratch, out);
}

}  // namespace qwenedge::kernels::scalar
