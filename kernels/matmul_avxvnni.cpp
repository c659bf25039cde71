// AVX-VNNI matmuls: the 256-bit kernels with vpdpbusd (VEX encoding, no AVX-512 needed).
// The kernels live in matmul_x86_256.inc; this file compiles them with this ISA's flags.
#define QWENEDGE_ISA_NS avxvnni
#define QWENEDGE_VNNI 1
#define QWENEDGE_DPBUSD256 _mm256_dpbusd_avx_epi32
#include "kernels/matmul_x86_256.inc"

namespace qwenedge::kernels::avxvnni {

void matmul(const Matrix& w, const ActivationView& x, float* y, int64_t ldy, int64_t row_begin,
            int64_t row_end) noexcept {
  if (row_begin >= row_end || x.n_tokens <= 0) return;
  if (!is_block_quantized(w.type)) {
    matmul_float(w, x, y, ldy, row_begin, row_end);
  } else if (x.n_tokens == 1) {
    matvec_q(w, x, y, row_begin, row_end);
  } else {
    matmul_q(w, x, y, ldy, row_begin, row_end);
  }
}

}  // namespace qwenedge::kernels::avxvnni
