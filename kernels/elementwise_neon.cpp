// Elementwise kernels for NEON: vectorized fp16 row conversions and attention dot/axpy over the
// fp16 KV cache; rmsnorm, silu_mul and softmax use the scalar versions.
#include <arm_neon.h>

#include "kernels/isa_kernels.hpp"

namespace qwenedge::kernels::neon {

void rmsnorm(const float* x, const float* w, float* y, int64_t n, float eps) noexcept {
  scalar::rmsnorm(x, w, y, n, eps);
}
void silu_mul(const float* gate, const float* up, float* out, int64_t n) noexcept {
  scalar::silu_mul(gate, up, out, n);
}
void softmax(float* x, int64_t n) noexcept { scalar::softmax(x, n); }

void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n) noexcept {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
  scalar::fp32_to_fp16_row(x + i, y + i, n - i);
}

void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n) noexcept {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + i))));
  scalar::fp16_to_fp32_row(x + i, y + i, n - i);
}

float dot_f16(const float* a, const uint16_t* b, int64_t n) noexcept {
  float32x4_t acc = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    acc = vfmaq_f32(acc, vld1q_f32(a + i), vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(b + i))));
  }
  return vaddvq_f32(acc) + scalar::dot_f16(a + i, b + i, n - i);
}

void axpy_f16(float a, const uint16_t* x, float* y, int64_t n) noexcept {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + i))), a));
  }
  scalar::axpy_f16(a, x + i, y + i, n - i);
}

void attend_f16(const float* q, const int64_t* n, int64_t nt, int64_t ld, int64_t nq, const uint16_t* k,
                const uint16_t* v, int64_t kv_stride, int64_t dh, float scale, float* scratch, float* out) noexcept {
  scalar::attend_by_head({dot_f16, softmax, axpy_f16}, q, n, nt, ld, nq, k, v, kv_stride, dh, scale, scratch, out);
}

}  // namespace qwenedge::kernels::neon
