// AVX-VNNI adds only integer dot products: its elementwise kernels are the AVX2 ones.
#include "kernels/isa_kernels.hpp"

namespace qwenedge::kernels::avxvnni {

void rmsnorm(const float* x, const float* w, float* y, int64_t n, float eps) noexcept {
  avx2::rmsnorm(x, w, y, n, eps);
}
void silu_mul(const float* gate, const float* up, float* out, int64_t n) noexcept {
  avx2::silu_mul(gate, up, out, n);
}
void softmax(float* x, int64_t n) noexcept { avx2::softmax(x, n); }
void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n) noexcept {
  avx2::fp32_to_fp16_row(x, y, n);
}
void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n) noexcept {
  avx2::fp16_to_fp32_row(x, y, n);
}
float dot_f16(const float* a, const uint16_t* b, int64_t n) noexcept { return avx2::dot_f16(a, b, n); }
void axpy_f16(float a, const uint16_t* x, float* y, int64_t n) noexcept { avx2::axpy_f16(a, x, y, n); }

void attend_f16(const float* q, const int64_t* n, int64_t nt, int64_t ld, int64_t nq, const uint16_t* k,
                const uint16_t* v, int64_t kv_stride, int64_t dh, float scale, float* scratch, float* out) noexcept {
  avx2::attend_f16(q, n, nt, ld, nq, k, v, kv_stride, dh, scale, scratch, out);
}

}  // namespace qwenedge::kernels::avxvnni
