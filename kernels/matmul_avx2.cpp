// AVX2 + FMA + F16C matmuls: int8 dot products through vpmaddubsw + vpmaddwd.
// The kernels live in matmul_x86_256.inc; this file compiles them with this ISA's flags.
#define QWENEDGE_ISA_NS avx2
#define QWENEDGE_VNNI 0

#include "kernels/matmul_x86_256.inc"

namespace qwenedge::kernels::avx2 {

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

}  // namespace qwenedge::kernels::avx2
