// Internal: the row-interleaved layout the tiled SIMD matmuls read ("lanes = rows"), built either
// once at load time for a whole matrix (pack_matrix in kernels.hpp) or on the fly, one group of R
// rows at a time, into a per-thread scratch buffer.
//
// A packed group of R rows over nb = cols / 32 blocks holds, in order:
//   uint8  qs[nb][steps][R][4]   4-byte units: unit (b, s, r) = row r's block-b qs[4s .. 4s+3]
//   uint16 d[nb][R]              the rows' fp16 block scales as stored in GGUF (0 for padding rows)
// Q8_0: 8 steps (unit s covers columns 4s..4s+3), signed bytes as in GGUF (the VNNI kernels flip
//       them to w + 128 for vpdpbusd with one xor per load, shared by every token of a tile).
// Q4_0: 4 steps; unit s holds GGUF bytes 4s..4s+3, whose low nibbles are columns 4s..4s+3 and
//       high nibbles columns 16+4s..16+4s+3.
// One SIMD load of R*4 bytes then gives 4 consecutive weights of each of R rows, and the int32
// lanes of a dot product are the R rows: no horizontal sums, and a block's scales are one load.
// Quants and scales are kept apart so the quant loads stay aligned, and a group is exactly as
// many bytes as its R rows in GGUF: decode, which streams every weight once, reads no more.
#pragma once

#include <cstdint>

#include "kernels/matmul.hpp"

namespace qwenedge::kernels {

// Bytes of one block's quants in a packed group of R rows.
inline int64_t packed_quant_bytes(WeightType type, int R) noexcept {
  return R * (type == WeightType::kQ8_0 ? kBlockSize : kBlockSize / 2);
}
// Bytes of one packed group of R rows of a Q8_0 / Q4_0 matrix with `cols` columns.
inline int64_t packed_group_bytes(WeightType type, int64_t cols, int R) noexcept {
  return cols / kBlockSize * (packed_quant_bytes(type, R) + 2 * R);
}
// The fp16 scales of a packed group (after its quants).
inline const uint16_t* packed_scales(const uint8_t* group, WeightType type, int64_t cols, int R) noexcept {
  return reinterpret_cast<const uint16_t*>(group + cols / kBlockSize * packed_quant_bytes(type, R));
}

// Packs rows [row0, row0 + n_rows) of a Q8_0 / Q4_0 matrix, n_rows <= R, into dst
// (packed_group_bytes bytes). Rows past n_rows are zero.
void pack_rows(const Matrix& w, int64_t row0, int64_t n_rows, int R, uint8_t* dst) noexcept;

// A per-thread scratch buffer of at least `bytes` bytes, 64-byte aligned; reused across calls.
uint8_t* pack_scratch(int64_t bytes) noexcept;

}  // namespace qwenedge::kernels
