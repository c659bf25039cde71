// Elementwise kernels for avx512 (placeholder forwarding to the scalar versions).
#include "kernels/isa_kernels.hpp"

namespace qwenedge::kernels::avx512 {

void rmsnorm(const float* x, const float* w, float* y, int64_t n, float eps) noexcept {
  scalar::rmsnorm(x, w, y, n, eps);
}
void silu_mul(const float* gate, const float* up, float* out, int64_t n) noexcept {
  scalar::silu_mul(gate, up, out, n);
}
void softmax(float* x, int64_t n) noexcept { scalar::softmax(x, n); }
void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n) noexcept { scalar::fp32_to_fp16_row(x, y, n); }
void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n) noexcept { scalar::fp16_to_fp32_row(x, y, n); }
float dot_f16(const float* a, const uint16_t* b, int64_t n) noexcept { return scalar::dot_f16(a, b, n); }
void axpy_f16(float a, const uint16_t* x, float* y, int64_t n) noexcept { scalar::axpy_f16(a, x, y, n); }

}  // namespace qwenedge::kernels::avx512
