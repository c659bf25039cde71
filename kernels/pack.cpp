// On-the-fly row interleaving for the tiled matmuls. Baseline code. See pack.hpp.
#include "kernels/pack.hpp"

#include <cstdlib>
#include <cstring>

namespace qwenedge::kernels {

int64_t packed_block_bytes(WeightType type, int R) noexcept {
  const int64_t quant_bytes = type == WeightType::kQ8_0 ? kBlockSize : kBlockSize / 2;
  return R * (4 + quant_bytes);
}

void pack_rows(const Matrix& w, int64_t row0, int64_t n_rows, int R, bool offset_u8,
               uint8_t* dst) noexcept {
  const int64_t nb = w.cols / kBlockSize;
  const int64_t rb = row_bytes(w.type, w.cols);
  const auto* base = static_cast<const uint8_t*>(w.data) + row0 * rb;
  const bool q8 = w.type == WeightType::kQ8_0;
  const int steps = q8 ? 8 : 4;
  const int64_t block_bytes = q8 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
  const int64_t stride = packed_block_bytes(w.type, R);
  const uint32_t flip = offset_u8 ? 0x80808080u : 0u;
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t* out = dst + b * stride;
    auto* d = reinterpret_cast<float*>(out);
    uint8_t* q = out + 4 * R;
    for (int r = 0; r < R; ++r) {
      if (r >= n_rows) {
        d[r] = 0.0f;
        for (int s = 0; s < steps; ++s) std::memcpy(q + (s * R + r) * 4, &flip, 4);
        continue;
      }
      const uint8_t* blk = base + r * rb + b * block_bytes;
      uint16_t h;
      std::memcpy(&h, blk, 2);
      d[r] = fp16_to_fp32(h);
      for (int s = 0; s < steps; ++s) {
        uint32_t u;
        std::memcpy(&u, blk + 2 + 4 * s, 4);
        if (q8) u ^= flip;
        std::memcpy(q + (s * R + r) * 4, &u, 4);
      }
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
