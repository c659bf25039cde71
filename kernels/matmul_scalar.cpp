// The scalar reference matmuls and activation quantizer: the oracle every SIMD path is tested
// against. Written for clarity, not speed; the SIMD paths follow the same per-block arithmetic:
//   acc = fma(float(isum_b), d_w[b] * d_x[b], acc)   for b = 0, 1, ... in order,
// where isum_b is the exact int32 dot product of the block's quants.
#include <cmath>
#include <cstring>

#include "kernels/isa_kernels.hpp"

namespace qwenedge::kernels::scalar {
namespace {

// Column k of row r as fp32, for the float weight types.
float load_weight(const Matrix& w, const uint8_t* row, int64_t k) {
  switch (w.type) {
    case WeightType::kF32: {
      float f;
      std::memcpy(&f, row + 4 * k, 4);
      return f;
    }
    case WeightType::kF16: {
      uint16_t h;
      std::memcpy(&h, row + 2 * k, 2);
      return qwenedge::kernels::fp16_to_fp32(h);
    }
    case WeightType::kBF16: {
      uint16_t h;
      std::memcpy(&h, row + 2 * k, 2);
      return bf16_to_fp32(h);
    }
    default: return 0.0f;
  }
}

float dot_float_row(const Matrix& w, const uint8_t* row, const float* x) {
  float acc = 0.0f;
  for (int64_t k = 0; k < w.cols; ++k) acc += load_weight(w, row, k) * x[k];
  return acc;
}

float dot_q8_row(const BlockQ8_0* row, const int8_t* xq, const float* xd, int64_t nb) {
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < kBlockSize; ++j) isum += row[b].qs[j] * xq[b * kBlockSize + j];
    acc = std::fma(static_cast<float>(isum), kernels::fp16_to_fp32(row[b].d) * xd[b], acc);
  }
  return acc;
}

float dot_q4_row(const BlockQ4_0* row, const int8_t* xq, const float* xd, int64_t nb) {
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    const int8_t* xb = xq + b * kBlockSize;
    int32_t isum = 0;
    for (int j = 0; j < kBlockSize / 2; ++j) {
      isum += ((row[b].qs[j] & 0x0f) - 8) * xb[j];
      isum += ((row[b].qs[j] >> 4) - 8) * xb[j + kBlockSize / 2];
    }
    acc = std::fma(static_cast<float>(isum), kernels::fp16_to_fp32(row[b].d) * xd[b], acc);
  }
  return acc;
}

}  // namespace

void quantize_activations(const float* x, int64_t n_tokens, int64_t cols, int8_t* qs, float* d,
                          int32_t* sums) noexcept {
  const int64_t nb = cols / kBlockSize;
  for (int64_t i = 0; i < n_tokens * nb; ++i) {
    const float* xb = x + i * kBlockSize;
    float amax = 0.0f;
    for (int j = 0; j < kBlockSize; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
    const float scale = amax / 127.0f;
    const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
    int32_t sum = 0;
    for (int j = 0; j < kBlockSize; ++j) {
      const float v = xb[j] * inv;
      // Round to nearest even (the SIMD conversions' default mode); NaN becomes 0.
      const float r = v == v ? std::fmin(std::fmax(std::nearbyint(v), -127.0f), 127.0f) : 0.0f;
      qs[i * kBlockSize + j] = static_cast<int8_t>(r);
      sum += static_cast<int32_t>(r);
    }
    d[i] = scale;
    sums[i] = sum;
  }
}

void matmul(const Matrix& w, const ActivationView& x, float* y, int64_t ldy, int64_t row_begin,
            int64_t row_end) noexcept {
  const int64_t rb = row_bytes(w.type, w.cols);
  const int64_t nb = w.cols / kBlockSize;
  for (int64_t t = 0; t < x.n_tokens; ++t) {
    for (int64_t r = row_begin; r < row_end; ++r) {
      const auto* row = static_cast<const uint8_t*>(w.data) + r * rb;
      float v = 0.0f;
      switch (w.type) {
        case WeightType::kQ8_0:
          v = dot_q8_row(reinterpret_cast<const BlockQ8_0*>(row), x.qs + t * w.cols, x.d + t * nb,
                         nb);
          break;
        case WeightType::kQ4_0:
          v = dot_q4_row(reinterpret_cast<const BlockQ4_0*>(row), x.qs + t * w.cols, x.d + t * nb,
                         nb);
          break;
        default: v = dot_float_row(w, row, x.x + t * w.cols); break;
      }
      y[t * ldy + r] = v;
    }
  }
}

}  // namespace qwenedge::kernels::scalar
