// AArch64 NEON + dotprod matmuls: int8 dot products through sdot (signed x signed, so Q8_0 needs
// no offset and Q4_0 nibbles are re-centred to -8..7 before the dot product).
// Matrix-vector: GGUF rows read in place, four rows at a time, their block sums reduced with
// pairwise adds into one vector of four rows. Matrix-matrix: packed groups of 4 rows (pack.hpp,
// 16 bytes = 4 rows x 4 weights per step) times up to 4 tokens with the lane-indexed sdot.
// Every path scales and accumulates blocks in order with one fused multiply-add per block, so the
// results are bit-identical to the scalar reference.
#include <arm_neon.h>

#include <cstring>

#include "kernels/isa_kernels.hpp"
#include "kernels/pack.hpp"

namespace qwenedge::kernels::neon {
namespace {

constexpr int kR = 4;  // rows per packed group: one int32x4 / float32x4 of lanes
constexpr int kT = 4;  // tokens per micro-tile
constexpr int64_t kActivationBlockBytes = 256 * 1024;

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

inline float32x4_t load_scales4(const uint8_t* const* rows, int64_t offset) {
  uint16_t h[4];
  for (int i = 0; i < 4; ++i) std::memcpy(&h[i], rows[i] + offset, 2);
  return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
}

inline int32x4_t reduce4(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
  return vpaddq_s32(vpaddq_s32(a, b), vpaddq_s32(c, d));
}

// The 32 weights of a Q4_0 block as signed -8..7, columns 0..15 and 16..31.
inline void unpack_q4(const uint8_t* qs, int8x16_t& lo, int8x16_t& hi) {
  const uint8x16_t v = vld1q_u8(qs);
  const int8x16_t eight = vdupq_n_s8(8);
  lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f))), eight);
  hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), eight);
}

float32x4_t matvec4(WeightType type, const uint8_t* const* rows, const ActivationView& x) {
  const int64_t nb = x.cols / kBlockSize;
  const bool q8 = type == WeightType::kQ8_0;
  const int64_t block_bytes = q8 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
  float32x4_t acc = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < nb; ++b) {
    const int8x16_t x0 = vld1q_s8(x.qs + b * kBlockSize);
    const int8x16_t x1 = vld1q_s8(x.qs + b * kBlockSize + 16);
    const int64_t off = b * block_bytes;
    int32x4_t p[4];
    for (int i = 0; i < 4; ++i) {
      int8x16_t w0, w1;
      if (q8) {
        w0 = vld1q_s8(reinterpret_cast<const int8_t*>(rows[i] + off + 2));
        w1 = vld1q_s8(reinterpret_cast<const int8_t*>(rows[i] + off + 18));
      } else {
        unpack_q4(rows[i] + off + 2, w0, w1);
      }
      p[i] = vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, x0), w1, x1);
    }
    const float32x4_t scale = vmulq_n_f32(load_scales4(rows, off), x.d[b]);
    acc = vfmaq_f32(acc, vcvtq_f32_s32(reduce4(p[0], p[1], p[2], p[3])), scale);
  }
  return acc;
}

void matvec_q(const Matrix& w, const ActivationView& x, float* y, int64_t r0, int64_t r1) {
  const int64_t rb = row_bytes(w.type, w.cols);
  const auto* base = static_cast<const uint8_t*>(w.data);
  for (int64_t r = r0; r < r1; r += 4) {
    const int64_t n = min64(4, r1 - r);
    const uint8_t* rows[4];
    for (int i = 0; i < 4; ++i) rows[i] = base + (r + (i < n ? i : n - 1)) * rb;
    float tmp[4];
    vst1q_f32(tmp, matvec4(w.type, rows, x));
    for (int64_t i = 0; i < n; ++i) y[r + i] = tmp[i];
  }
}

// acc += the dot products of the 4 rows in w with the 4 activation bytes in lane L of xv.
#define QE_SDOT_LANE(acc, w, xv, L) acc = vdotq_laneq_s32(acc, w, xv, L)

template <int NT>
void tile(bool q8, const uint8_t* pk, const ActivationView& x, int64_t t0, float* y, int64_t ldy,
          int64_t g0, int64_t n_rows) {
  const int64_t nb = x.cols / kBlockSize;
  const WeightType type = q8 ? WeightType::kQ8_0 : WeightType::kQ4_0;
  const int64_t stride = packed_quant_bytes(type, kR);
  const uint16_t* scales = packed_scales(pk, type, x.cols, kR);
  float32x4_t acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* q = pk + b * stride;
    int8x16_t xa[NT], xb[NT];  // columns 0..15 and 16..31 of the block
    for (int t = 0; t < NT; ++t) {
      xa[t] = vld1q_s8(x.qs + (t0 + t) * x.cols + b * kBlockSize);
      xb[t] = vld1q_s8(x.qs + (t0 + t) * x.cols + b * kBlockSize + 16);
    }
    int32x4_t isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = vdupq_n_s32(0);
    if (q8) {
      int8x16_t wv[8];
      for (int s = 0; s < 8; ++s) wv[s] = vld1q_s8(reinterpret_cast<const int8_t*>(q + 16 * s));
      for (int t = 0; t < NT; ++t) {
        QE_SDOT_LANE(isum[t], wv[0], xa[t], 0);
        QE_SDOT_LANE(isum[t], wv[1], xa[t], 1);
        QE_SDOT_LANE(isum[t], wv[2], xa[t], 2);
        QE_SDOT_LANE(isum[t], wv[3], xa[t], 3);
        QE_SDOT_LANE(isum[t], wv[4], xb[t], 0);
        QE_SDOT_LANE(isum[t], wv[5], xb[t], 1);
        QE_SDOT_LANE(isum[t], wv[6], xb[t], 2);
        QE_SDOT_LANE(isum[t], wv[7], xb[t], 3);
      }
    } else {
      // Packed unit s holds columns 4s..4s+3 in its low nibbles and 16+4s.. in its high ones.
      int8x16_t lo[4], hi[4];
      for (int s = 0; s < 4; ++s) unpack_q4(q + 16 * s, lo[s], hi[s]);
      for (int t = 0; t < NT; ++t) {
        QE_SDOT_LANE(isum[t], lo[0], xa[t], 0);
        QE_SDOT_LANE(isum[t], lo[1], xa[t], 1);
        QE_SDOT_LANE(isum[t], lo[2], xa[t], 2);
        QE_SDOT_LANE(isum[t], lo[3], xa[t], 3);
        QE_SDOT_LANE(isum[t], hi[0], xb[t], 0);
        QE_SDOT_LANE(isum[t], hi[1], xb[t], 1);
        QE_SDOT_LANE(isum[t], hi[2], xb[t], 2);
        QE_SDOT_LANE(isum[t], hi[3], xb[t], 3);
      }
    }
    const float32x4_t dw = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(scales + b * kR)));
    for (int t = 0; t < NT; ++t) {
      acc[t] = vfmaq_f32(acc[t], vcvtq_f32_s32(isum[t]), vmulq_n_f32(dw, x.d[(t0 + t) * nb + b]));
    }
  }
  for (int t = 0; t < NT; ++t) {
    float* out = y + (t0 + t) * ldy + g0;
    if (n_rows == kR) {
      vst1q_f32(out, acc[t]);
    } else {
      float tmp[kR];
      vst1q_f32(tmp, acc[t]);
      for (int64_t i = 0; i < n_rows; ++i) out[i] = tmp[i];
    }
  }
}

void matmul_q(const Matrix& w, const ActivationView& x, float* y, int64_t ldy, int64_t r0,
              int64_t r1) {
  const int64_t nb = w.cols / kBlockSize;
  uint8_t* pk = pack_scratch(packed_group_bytes(w.type, w.cols, kR));
  if (pk == nullptr) {
    for (int64_t t = 0; t < x.n_tokens; ++t) {
      ActivationView xt = x;
      xt.qs += t * x.cols;
      xt.d += t * nb;
      xt.sums += t * nb;
      xt.n_tokens = 1;
      matvec_q(w, xt, y + t * ldy, r0, r1);
    }
    return;
  }
  const bool q8 = w.type == WeightType::kQ8_0;
  const int64_t tb = kT * (1 + min64(x.n_tokens, kActivationBlockBytes / w.cols) / kT);
  for (int64_t tb0 = 0; tb0 < x.n_tokens; tb0 += tb) {
    const int64_t tb1 = min64(tb0 + tb, x.n_tokens);
    for (int64_t g = r0; g < r1; g += kR) {
      const int64_t n_rows = min64(kR, r1 - g);
      pack_rows(w, g, n_rows, kR, pk);
      for (int64_t t = tb0; t < tb1; t += kT) {
        switch (min64(kT, tb1 - t)) {
          case 1: tile<1>(q8, pk, x, t, y, ldy, g, n_rows); break;
          case 2: tile<2>(q8, pk, x, t, y, ldy, g, n_rows); break;
          case 3: tile<3>(q8, pk, x, t, y, ldy, g, n_rows); break;
          default: tile<kT>(q8, pk, x, t, y, ldy, g, n_rows); break;
        }
      }
    }
  }
}

inline float32x4_t load4(WeightType type, const uint8_t* row, int64_t k) {
  switch (type) {
    case WeightType::kF16:
      return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(reinterpret_cast<const uint16_t*>(row + 2 * k))));
    case WeightType::kBF16:
      return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(reinterpret_cast<const uint16_t*>(row + 2 * k)), 16));
    default: return vld1q_f32(reinterpret_cast<const float*>(row + 4 * k));
  }
}

inline float load1(WeightType type, const uint8_t* row, int64_t k) {
  uint16_t h;
  float f;
  switch (type) {
    case WeightType::kF16:
      std::memcpy(&h, row + 2 * k, 2);
      return fp16_to_fp32(h);
    case WeightType::kBF16:
      std::memcpy(&h, row + 2 * k, 2);
      return bf16_to_fp32(h);
    default: std::memcpy(&f, row + 4 * k, 4); return f;
  }
}

// One output: row r of w times token row xt.
float dot_row(const Matrix& w, const uint8_t* row, const float* xt) {
  const int64_t k4 = w.cols / 4 * 4;
  float32x4_t a0 = vdupq_n_f32(0.0f), a1 = vdupq_n_f32(0.0f);
  int64_t k = 0;
  for (; k + 8 <= k4; k += 8) {
    a0 = vfmaq_f32(a0, load4(w.type, row, k), vld1q_f32(xt + k));
    a1 = vfmaq_f32(a1, load4(w.type, row, k + 4), vld1q_f32(xt + k + 4));
  }
  for (; k < k4; k += 4) a0 = vfmaq_f32(a0, load4(w.type, row, k), vld1q_f32(xt + k));
  float s = vaddvq_f32(vaddq_f32(a0, a1));
  for (; k < w.cols; ++k) s += load1(w.type, row, k) * xt[k];
  return s;
}

// Rows in blocks of about 32 KiB of weights, each block kept in cache while every token passes
// over it (token-major over the whole range, a large matrix came from memory once per token).
void matmul_float(const Matrix& w, const ActivationView& x, float* y, int64_t ldy, int64_t r0,
                  int64_t r1) {
  const int64_t rb = row_bytes(w.type, w.cols);
  const int64_t block = 1 + 32 * 1024 / rb;
  for (int64_t b0 = r0; b0 < r1; b0 += block) {
    const int64_t b1 = b0 + block < r1 ? b0 + block : r1;
    for (int64_t t = 0; t < x.n_tokens; ++t) {
      for (int64_t r = b0; r < b1; ++r) {
        y[t * ldy + r] = dot_row(w, static_cast<const uint8_t*>(w.data) + r * rb, x.x + t * w.cols);
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
    matmul_q(w, x, y, ldy, row_begin, row_end);
  }
}

void quantize_activations(const float* x, int64_t n_tokens, int64_t cols, int8_t* qs, float* d,
                          int32_t* sums) noexcept {
  const int64_t n_blocks = n_tokens * (cols / kBlockSize);
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float* xb = x + i * kBlockSize;
    float32x4_t v[8];
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int j = 0; j < 8; ++j) {
      v[j] = vld1q_f32(xb + 4 * j);
      m = vmaxq_f32(m, vabsq_f32(v[j]));
    }
    const float amax = vmaxvq_f32(m);
    const float scale = amax / 127.0f;
    const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
    int32x4_t q[8];
    int32x4_t s = vdupq_n_s32(0);
    for (int j = 0; j < 8; ++j) {
      q[j] = vcvtnq_s32_f32(vmulq_n_f32(v[j], inv));  // round to nearest even
      s = vaddq_s32(s, q[j]);
    }
    for (int j = 0; j < 8; j += 4) {
      const int16x8_t a = vcombine_s16(vqmovn_s32(q[j]), vqmovn_s32(q[j + 1]));
      const int16x8_t b = vcombine_s16(vqmovn_s32(q[j + 2]), vqmovn_s32(q[j + 3]));
      vst1q_s8(qs + i * kBlockSize + 4 * j, vcombine_s8(vqmovn_s16(a), vqmovn_s16(b)));
    }
    d[i] = scale;
    sums[i] = vaddvq_s32(s);
  }
}

}  // namespace qwenedge::kernels::neon
