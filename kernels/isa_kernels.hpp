// Internal: the functions each ISA's translation units export, one namespace per ISA. Only
// declarations live here, so nothing compiled with one ISA's flags can be shared with another.
#pragma once

#include <cstdint>

#include "kernels/matmul.hpp"

#define QWENEDGE_DECLARE_ISA_KERNELS(ns)                                                          \
  namespace qwenedge::kernels::ns {                                                               \
  void quantize_activations(const float* x, int64_t n_tokens, int64_t cols, int8_t* qs, float* d, \
                            int32_t* sums) noexcept;                                              \
  void matmul(const Matrix& w, const ActivationView& x, float* y, int64_t ldy, int64_t row_begin, \
              int64_t row_end) noexcept;                                                          \
  void rmsnorm(const float* x, const float* w, float* y, int64_t n, float eps) noexcept;         \
  void silu_mul(const float* gate, const float* up, float* out, int64_t n) noexcept;             \
  void softmax(float* x, int64_t n) noexcept;                                                     \
  void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n) noexcept;                            \
  void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n) noexcept;                            \
  float dot_f16(const float* a, const uint16_t* b, int64_t n) noexcept;                          \
  void axpy_f16(float a, const uint16_t* x, float* y, int64_t n) noexcept;                       \
  void attend_f16(const float* q, const int64_t* n, int64_t nt, int64_t ld, int64_t nq,          \
                  const uint16_t* k, const uint16_t* v, int64_t kv_stride, int64_t dh,            \
                  float scale, float* scratch, float* out) noexcept;                              \
  }

QWENEDGE_DECLARE_ISA_KERNELS(scalar)

namespace qwenedge::kernels::scalar {
// attend_f16 one token and one head at a time from an ISA's own pieces (for ISAs without a
// grouped version).
struct AttendParts {
  float (*dot_f16)(const float* a, const uint16_t* b, int64_t n) noexcept;
  void (*softmax)(float* x, int64_t n) noexcept;
  void (*axpy_f16)(float a, const uint16_t* x, float* y, int64_t n) noexcept;
};
void attend_by_head(const AttendParts& p, const float* q, const int64_t* n, int64_t nt, int64_t ld, int64_t nq,
                    const uint16_t* k, const uint16_t* v, int64_t kv_stride, int64_t dh, float scale,
                    float* scores, float* out) noexcept;
}  // namespace qwenedge::kernels::scalar
#if defined(QWENEDGE_KERNELS_X86)
QWENEDGE_DECLARE_ISA_KERNELS(avx2)
QWENEDGE_DECLARE_ISA_KERNELS(avxvnni)
QWENEDGE_DECLARE_ISA_KERNELS(avx512)
#endif
#if defined(QWENEDGE_KERNELS_NEON)
QWENEDGE_DECLARE_ISA_KERNELS(neon)
#endif
