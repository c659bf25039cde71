// Internal: the row-interleaved layout the tiled SIMD matmuls read ("lanes = rows"), and the
// baseline code that builds it from GGUF rows on the fly, one group of R rows at a time.
//
// A packed group of R rows holds, for each block b of 32 columns, in order:
//   float d[R]                    the rows' fp16 scales widened to fp32 (0 for padding rows)
//   uint8 qs[steps][R][4]         4-byte units: unit (s, r) = row r's qs[4s .. 4s+3]
// Q8_0: 8 steps (unit s covers columns 4s..4s+3); with offset_u8 each byte is stored as w ^ 0x80,
//       i.e. w + 128 as an unsigned byte, ready for vpdpbusd (unsigned x signed).
// Q4_0: 4 steps; unit s holds GGUF bytes 4s..4s+3, whose low nibbles are columns 4s..4s+3 and
//       high nibbles columns 16+4s..16+4s+3.
// One SIMD load of R*4 bytes then gives 4 consecutive weights of each of R rows, and the int32
// lanes of a dot product are the R rows: no horizontal sums, and a block's scales are one load.
#pragma once

#include <cstdint>

#include "kernels/matmul.hpp"

namespace qwenedge::kernels {

// Bytes of one packed block of R rows (scales + quants).
int64_t packed_block_bytes(WeightType type, int R) noexcept;

// Packs rows [row0, row0 + n_rows) of a Q8_0 / Q4_0 matrix, n_rows <= R, into dst
// (cols / 32 * packed_block_bytes(type, R) bytes). Rows past n_rows are zero.
void pack_rows(const Matrix& w, int64_t row0, int64_t n_rows, int R, bool offset_u8,
               uint8_t* dst) noexcept;

// A per-thread scratch buffer of at least `bytes` bytes, 64-byte aligned; reused across calls.
uint8_t* pack_scratch(int64_t bytes) noexcept;

}  // namespace qwenedge::kernels
