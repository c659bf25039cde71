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
  }

QWENEDGE_DECLARE_ISA_KERNELS(scalar)
#if defined(QWENEDGE_KERNELS_X86)
QWENEDGE_DECLARE_ISA_KERNELS(avx2)
QWENEDGE_DECLARE_ISA_KERNELS(avxvnni)
QWENEDGE_DECLARE_ISA_KERNELS(avx512)
#endif
#if defined(QWENEDGE_KERNELS_NEON)
QWENEDGE_DECLARE_ISA_KERNELS(neon)
#endif
