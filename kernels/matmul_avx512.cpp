// AVX-512 (F/BW/VL + VNNI) matmuls. Matrix-matrix products use 512-bit tiles of 16 packed rows x
// up to 8 tokens with vpdpbusd; the matrix-vector, float and quantizer paths are the 256-bit ones
// from matmul_x86_256.inc with the AVX512-VL vpdpbusd (decode is memory-bound: 256-bit loads of
// one 32-weight block per row keep up with DRAM, and the block scales stay scalar per row).
// GCC 12 warns falsely inside its own _mm512_cvtepi32_ps (the _mm512_undefined_ps() operand).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define QWENEDGE_ISA_NS avx512
#define QWENEDGE_VNNI 1
#define QWENEDGE_DPBUSD256 _mm256_dpbusd_epi32
#include "kernels/matmul_x86_256.inc"

namespace qwenedge::kernels::avx512 {
namespace {

constexpr int kR16 = 16;  // rows per packed group: one zmm of int32 / fp32 lanes
constexpr int kT8 = 8;    // tokens per micro-tile: 8 int + 8 fp32 accumulators (of 32 zmm)

inline __m512i bcast32_512(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// One packed group of 16 rows (pack.hpp, weights stored as w + 128 for Q8_0, raw nibbles for
// Q4_0) times NT tokens from t0; writes y[t][g0 .. g0 + n_rows).
template <int NT, bool kQ8>
void tile16(const uint8_t* pk, const ActivationView& x, int64_t t0, float* y, int64_t ldy,
            int64_t g0, int64_t n_rows) {
  const int64_t nb = x.cols / kBlockSize;
  const int64_t stride =
      packed_block_bytes(kQ8 ? WeightType::kQ8_0 : WeightType::kQ4_0, kR16);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const int8_t* xq[NT];
  const float* xd[NT];
  const int32_t* xs[NT];
  for (int t = 0; t < NT; ++t) {
    xq[t] = x.qs + (t0 + t) * x.cols;
    xd[t] = x.d + (t0 + t) * nb;
    xs[t] = x.sums + (t0 + t) * nb;
  }
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = pk + b * stride;
    const uint8_t* q = blk + 4 * kR16;
    __m512i isum[NT];
    if constexpr (kQ8) {
      // sum (w + 128) x = sum w x + 128 sum x
      for (int t = 0; t < NT; ++t) isum[t] = _mm512_set1_epi32(-128 * xs[t][b]);
      for (int s = 0; s < 8; ++s) {
        const __m512i wv = _mm512_load_si512(q + s * 4 * kR16);
        for (int t = 0; t < NT; ++t) {
          isum[t] = _mm512_dpbusd_epi32(isum[t], wv, bcast32_512(xq[t] + b * kBlockSize + 4 * s));
        }
      }
    } else {
      // sum (w + 8) x = sum w x + 8 sum x
      for (int t = 0; t < NT; ++t) isum[t] = _mm512_set1_epi32(-8 * xs[t][b]);
      for (int s = 0; s < 4; ++s) {
        const __m512i v = _mm512_load_si512(q + s * 4 * kR16);
        const __m512i lo = _mm512_and_si512(v, low4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
        for (int t = 0; t < NT; ++t) {
          const int8_t* xb = xq[t] + b * kBlockSize;
          isum[t] = _mm512_dpbusd_epi32(isum[t], lo, bcast32_512(xb + 4 * s));
          isum[t] = _mm512_dpbusd_epi32(isum[t], hi, bcast32_512(xb + 16 + 4 * s));
        }
      }
    }
    const __m512 dw = _mm512_load_ps(blk);
    for (int t = 0; t < NT; ++t) {
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]),
                               _mm512_mul_ps(dw, _mm512_set1_ps(xd[t][b])), acc[t]);
    }
  }
  const auto mask = static_cast<__mmask16>((1u << n_rows) - 1u);
  for (int t = 0; t < NT; ++t) {
    float* out = y + (t0 + t) * ldy + g0;
    if (n_rows == kR16) {
      _mm512_storeu_ps(out, acc[t]);
    } else {
      _mm512_mask_storeu_ps(out, mask, acc[t]);
    }
  }
}

template <int NT>
void tile16_any(bool q8, const uint8_t* pk, const ActivationView& x, int64_t t0, float* y,
                int64_t ldy, int64_t g0, int64_t n_rows) {
  if (q8) {
    tile16<NT, true>(pk, x, t0, y, ldy, g0, n_rows);
  } else {
    tile16<NT, false>(pk, x, t0, y, ldy, g0, n_rows);
  }
}

void matmul_q16(const Matrix& w, const ActivationView& x, float* y, int64_t ldy, int64_t r0,
                int64_t r1) {
  const int64_t nb = w.cols / kBlockSize;
  uint8_t* pk = pack_scratch(nb * packed_block_bytes(w.type, kR16));
  if (pk == nullptr) {
    matmul_q(w, x, y, ldy, r0, r1);  // its own fallback handles the missing scratch
    return;
  }
  const bool q8 = w.type == WeightType::kQ8_0;
  const int64_t tb = kT8 * (1 + min64(x.n_tokens, kActivationBlockBytes / w.cols) / kT8);
  for (int64_t tb0 = 0; tb0 < x.n_tokens; tb0 += tb) {
    const int64_t tb1 = min64(tb0 + tb, x.n_tokens);
    for (int64_t g = r0; g < r1; g += kR16) {
      const int64_t n_rows = min64(kR16, r1 - g);
      pack_rows(w, g, n_rows, kR16, true, pk);
      for (int64_t t = tb0; t < tb1; t += kT8) {
        switch (min64(kT8, tb1 - t)) {
          case 1: tile16_any<1>(q8, pk, x, t, y, ldy, g, n_rows); break;
          case 2: tile16_any<2>(q8, pk, x, t, y, ldy, g, n_rows); break;
          case 3: tile16_any<3>(q8, pk, x, t, y, ldy, g, n_rows); break;
          case 4: tile16_any<4>(q8, pk, x, t, y, ldy, g, n_rows); break;
          case 5: tile16_any<5>(q8, pk, x, t, y, ldy, g, n_rows); break;
          case 6: tile16_any<6>(q8, pk, x, t, y, ldy, g, n_rows); break;
          case 7: tile16_any<7>(q8, pk, x, t, y, ldy, g, n_rows); break;
          default: tile16_any<kT8>(q8, pk, x, t, y, ldy, g, n_rows); break;
        }
      }
    }
  }
}

}  // namespace

void matmul(const Matrix& w, const ActivationView& x, float* y, int64_t ldy, int64_t row_begin,
            int64_t row_end) noexcept {
  if (row_begin >= row_end || x.n_tokens <= 0) return;
  if (!is_block_quantized(w.type)) {
    matmul_float(w, x, y, ldy, row_begin, row_end);
  } else if (x.n_tokens == 1) {
    matvec_q(w, x, y, row_begin, row_end);
  } else {
    matmul_q16(w, x, y, ldy, row_begin, row_end);
  }
}

}  // namespace qwenedge::kernels::avx512
