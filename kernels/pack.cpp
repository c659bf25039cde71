// Row interleaving for the tiled matmuls, at load time or on the fly. Baseline code. See pack.hpp.
#include "kernels/pack.hpp"

#include <cstdlib>
#include <cstring>

#include "kernels/kernels.hpp"

namespace qwenedge::kernels {

void pack_rows(const Matrix& w, int64_t row0, int64_t n_rows, int R, uint8_t* dst) noexcept {
  const int64_t nb = w.cols / kBlockSize;
  const int64_t rb = row_bytes(w.type, w.cols);
  const auto* base = static_cast<const uint8_t*>(w.data) + row0 * rb;
  const bool q8 = w.type == WeightType::kQ8_0;
  const int steps = q8 ? 8 : 4;
  const int64_t block_bytes = q8 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
  const int64_t quant_stride = packed_quant_bytes(w.type, R);
  auto* scales = const_cast<uint16_t*>(packed_scales(dst, w.type, w.cols, R));
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t* q = dst + b * quant_stride;
    uint16_t* d = scales + b * R;
    for (int r = 0; r < R; ++r) {
      if (r >= n_rows) {
        d[r] = 0;
        for (int s = 0; s < steps; ++s) std::memset(q + (s * R + r) * 4, 0, 4);
        continue;
      }
      const uint8_t* blk = base + r * rb + b * block_bytes;
      std::memcpy(&d[r], blk, 2);
      for (int s = 0; s < steps; ++s) {
        uint32_t u;
        std::memcpy(&u, blk + 2 + 4 * s, 4);
        std::memcpy(q + (s * R + r) * 4, &u, 4);
      }
    }
  }
}

int64_t packed_matrix_bytes(const Matrix& w) noexcept {
  if (!is_block_quantized(w.type) || w.cols % kBlockSize != 0) return 0;
  const int64_t groups = (w.rows + kPackedRows - 1) / kPackedRows;
  return groups * packed_group_bytes(w.type, w.cols, kPackedRows);
}

void pack_matrix(const Matrix& w, int64_t row_begin, int64_t row_end, uint8_t* packed) noexcept {
  const int64_t group_bytes = packed_group_bytes(w.type, w.cols, kPackedRows);
  for (int64_t r = row_begin; r < row_end; r += kPackedRows) {
    const int64_t n = row_end - r < kPackedRows ? row_end - r : kPackedRows;
    pack_rows(w, r, n, kPackedRows, packed + r / kPackedRows * group_bytes);
  }
}

void unpack_matrix(const Matrix& w, int64_t row_begin, int64_t row_end, uint8_t* rows) noexcept {
  const int64_t group_bytes = packed_group_bytes(w.type, w.cols, kPackedRows);
  const int64_t quant_stride = packed_quant_bytes(w.type, kPackedRows);
  const int64_t rb = row_bytes(w.type, w.cols);
  const bool q8 = w.type == WeightType::kQ8_0;
  const int steps = q8 ? 8 : 4;
  const int64_t block_bytes = q8 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
  for (int64_t r = row_begin; r < row_end; ++r) {
    const auto* group = static_cast<const uint8_t*>(w.packed) + r / kPackedRows * group_bytes;
    const int64_t lane = r % kPackedRows;
    const uint16_t* scales = packed_scales(group, w.type, w.cols, kPackedRows);
    uint8_t* out = rows + (r - row_begin) * rb;
    for (int64_t b = 0; b < w.cols / kBlockSize; ++b) {
      uint8_t* blk = out + b * block_bytes;
      std::memcpy(blk, &scales[b * kPackedRows + lane], 2);
      for (int s = 0; s < steps; ++s) std::memcpy(blk + 2 + 4 * s, group + b * quant_stride + (s * kPackedRows + lane) * 4, 4);
    }
  }
}

void unpack_row(const Matrix& w, int64_t r, float* y) noexcept {
  const auto* group = static_cast<const uint8_t*>(w.packed) +
                      r / kPackedRows * packed_group_bytes(w.type, w.cols, kPackedRows);
  const int64_t lane = r % kPackedRows;
  const int64_t quant_stride = packed_quant_bytes(w.type, kPackedRows);
  const uint16_t* scales = packed_scales(group, w.type, w.cols, kPackedRows);
  const bool q8 = w.type == WeightType::kQ8_0;
  // Rebuild each GGUF block and decode it as the file's row would be: the same values exactly.
  for (int64_t b = 0; b < w.cols / kBlockSize; ++b) {
    const uint8_t* q = group + b * quant_stride;
    if (q8) {
      BlockQ8_0 blk;
      blk.d = scales[b * kPackedRows + lane];
      for (int s = 0; s < 8; ++s) std::memcpy(blk.qs + 4 * s, q + (s * kPackedRows + lane) * 4, 4);
      dequantize_row_q8_0(&blk, y + b * kBlockSize, kBlockSize);
    } else {
      BlockQ4_0 blk;
      blk.d = scales[b * kPackedRows + lane];
      for (int s = 0; s < 4; ++s) std::memcpy(blk.qs + 4 * s, q + (s * kPackedRows + lane) * 4, 4);
      dequantize_row_q4_0(&blk, y + b * kBlockSize, kBlockSize);
    }
  }
}

uint8_t* pack_scratch(int64_t bytes) noexcept {
  struct Scratch {
    uint8_t* p = nullptr;
    int64_t n = 0;
    ~Scratch() { std::free(p); }
  };
  thread_local Scratch s;
  if (bytes > s.n) {
    std::free(s.p);
    const auto n = static_cast<size_t>((bytes + 63) / 64 * 64);
    s.p = static_cast<uint8_t*>(std::aligned_alloc(64, n));
    s.n = s.p ? static_cast<int64_t>(n) : 0;
  }
  return s.p;
}

}  // namespace qwenedge::kernels
