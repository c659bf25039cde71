// AVX-512 (F/BW/VL + VNNI) matmuls. Matrix-matrix products use 512-bit tiles of 16 packed rows
// (two 8-row groups of pack.hpp side by side) x up to 8 tokens with vpdpbusd; the matrix-vector,
// float and quantizer paths are the 256-bit ones from matmul_x86_256.inc with the AVX512-VL
// vpdpbusd (decode is memory-bound: 256-bit loads of each packed 8-row group keep up with DRAM).
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

// Two packed groups of 8 rows (pack.hpp: the load-time layout, or packed on the fly) side by
// side: one zmm of 64 weight bytes holds the same 4 columns of 16 rows, lanes 0..7 from `lo` and
// 8..15 from `hi`. Times NT tokens from t0; writes y[t][g0 .. g0 + n_rows).
inline __m512i load_pair(const uint8_t* lo, const uint8_t* hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo))),
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hi)), 1);
}

template <int NT, bool kQ8>
void tile16(const uint8_t* lo, const uint8_t* hi, const ActivationView& x, int64_t t0, float* y,
            int64_t ldy, int64_t g0, int64_t n_rows) {
  const int64_t nb = x.cols / kBlockSize;
  constexpr WeightType kType = kQ8 ? WeightType::kQ8_0 : WeightType::kQ4_0;
  const int64_t stride = packed_quant_bytes(kType, kR);
  const uint16_t* scales_lo = packed_scales(lo, kType, x.cols, kR);
  const uint16_t* scales_hi = packed_scales(hi, kType, x.cols, kR);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
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
    const uint8_t* qlo = lo + b * stride;
    const uint8_t* qhi = hi + b * stride;
    __m512i isum[NT];
    if constexpr (kQ8) {
      // vpdpbusd wants unsigned weights: w ^ 0x80 = w + 128, and sum (w + 128) x = sum w x + 128 sum x.
      for (int t = 0; t < NT; ++t) isum[t] = _mm512_set1_epi32(-128 * xs[t][b]);
      for (int s = 0; s < 8; ++s) {
        const __m512i wv = _mm512_xor_si512(load_pair(qlo + s * 4 * kR, qhi + s * 4 * kR), flip);
        for (int t = 0; t < NT; ++t) {
          isum[t] = _mm512_dpbusd_epi32(isum[t], wv, bcast32_512(xq[t] + b * kBlockSize + 4 * s));
        }
      }
    } else {
      // Nibbles are q = w + 8 (unsigned): sum q x = sum w x + 8 sum x.
      for (int t = 0; t < NT; ++t) isum[t] = _mm512_set1_epi32(-8 * xs[t][b]);
      for (int s = 0; s < 4; ++s) {
        const __m512i v = load_pair(qlo + s * 4 * kR, qhi + s * 4 * kR);
        const __m512i lo4 = _mm512_and_si512(v, low4);
        const __m512i hi4 = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
        for (int t = 0; t < NT; ++t) {
          const int8_t* xb = xq[t] + b * kBlockSize;
          isum[t] = _mm512_dpbusd_epi32(isum[t], lo4, bcast32_512(xb + 4 * s));
          isum[t] = _mm512_dpbusd_epi32(isum[t], hi4, bcast32_512(xb + 16 + 4 * s));
        }
      }
    }
    const __m256i d16 = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales_lo + b * kR))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(scales_hi + b * kR)), 1);
    const __m512 dw = _mm512_cvtph_ps(d16);
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
void tile16_any(bool q8, const uint8_t* lo, const uint8_t* hi, const ActivationView& x, int64_t t0,
                float* y, int64_t ldy, int64_t g0, int64_t n_rows) {
  if (q8) {
    tile16<NT, true>(lo, hi, x, t0, y, ldy, g0, n_rows);
  } else {
    tile16<NT, false>(lo, hi, x, t0, y, ldy, g0, n_rows);
  }
}

void matmul_q16(const Matrix& w, const ActivationView& x, float* y, int64_t ldy, int64_t r0,
                int64_t r1) {
  const int64_t group_bytes = packed_group_bytes(w.type, w.cols, kR);
  const bool prepacked = w.packed != nullptr && r0 % kR == 0;
  uint8_t* pk = prepacked ? nullptr : pack_scratch(2 * group_bytes);
  if (!prepacked && pk == nullptr) {
    matmul_q(w, x, y, ldy, r0, r1);  // its own fallback handles the missing scratch
    return;
  }
  const bool q8 = w.type == WeightType::kQ8_0;
  const int64_t tb = kT8 * (1 + min64(x.n_tokens, kActivationBlockBytes / w.cols) / kT8);
  for (int64_t tb0 = 0; tb0 < x.n_tokens; tb0 += tb) {
    const int64_t tb1 = min64(tb0 + tb, x.n_tokens);
    for (int64_t g = r0; g < r1; g += kR16) {
      const int64_t n_rows = min64(kR16, r1 - g);
      const uint8_t* lo = pk;
      if (prepacked) {
        lo = static_cast<const uint8_t*>(w.packed) + g / kR * group_bytes;
      } else {
        pack_rows(w, g, min64(kR, n_rows), kR, pk);
        if (n_rows > kR) pack_rows(w, g + kR, n_rows - kR, kR, pk + group_bytes);
      }
      // Past the last group the high lanes are never stored: any readable group will do.
      const uint8_t* hi = n_rows > kR ? lo + group_bytes : lo;
      for (int64_t t = tb0; t < tb1; t += kT8) {
        switch (min64(kT8, tb1 - t)) {
          case 1: tile16_any<1>(q8, lo, hi, x, t, y, ldy, g, n_rows); break;
          case 2: tile16_any<2>(q8, lo, hi, x, t, y, ldy, g, n_rows); break;
          case 3: tile16_any<3>(q8, lo, hi, x, t, y, ldy, g, n_rows); break;
          case 4: tile16_any<4>(q8, lo, hi, x, t, y, ldy, g, n_rows); break;
          case 5: tile16_any<5>(q8, lo, hi, x, t, y, ldy, g, n_rows); break;
          case 6: tile16_any<6>(q8, lo, hi, x, t, y, ldy, g, n_rows); break;
          case 7: tile16_any<7>(q8, lo, hi, x, t, y, ldy, g, n_rows); break;
          default: tile16_any<kT8>(q8, lo, hi, x, t, y, ldy, g, n_rows); break;
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
