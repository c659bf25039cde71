// Shared helpers for the kernel tests: random weights encoded as GGUF rows, and names.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernels.hpp"

namespace qwenedge::kernels::test {

inline std::vector<float> random_floats(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& f : v) f = dist(rng);
  return v;
}

// A rows x cols matrix of random weights stored as `type` exactly as GGUF does.
struct TestMatrix {
  std::vector<uint8_t> bytes;
  Matrix m;
};

inline TestMatrix make_matrix(WeightType type, int64_t rows, int64_t cols, uint32_t seed) {
  TestMatrix t;
  const int64_t rb = row_bytes(type, cols);
  t.bytes.resize(static_cast<size_t>(rows * rb + 64));
  const std::vector<float> w = random_floats(rows * cols, seed, 0.05f);
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = w.data() + r * cols;
    uint8_t* dst = t.bytes.data() + r * rb;
    switch (type) {
      case WeightType::kF32: std::memcpy(dst, src, static_cast<size_t>(cols) * 4); break;
      case WeightType::kF16:
        convert_row_fp32_to_fp16(src, reinterpret_cast<uint16_t*>(dst), cols);
        break;
      case WeightType::kBF16:
        convert_row_fp32_to_bf16(src, reinterpret_cast<uint16_t*>(dst), cols);
        break;
      case WeightType::kQ8_0: quantize_row_q8_0(src, reinterpret_cast<BlockQ8_0*>(dst), cols); break;
      case WeightType::kQ4_0: quantize_row_q4_0(src, reinterpret_cast<BlockQ4_0*>(dst), cols); break;
    }
  }
  t.m = Matrix{type, rows, cols, t.bytes.data()};
  return t;
}

// Row r of the matrix as fp32 (dequantized for the block types).
inline std::vector<float> dequantized_row(const Matrix& m, int64_t r) {
  std::vector<float> out(static_cast<size_t>(m.cols));
  const auto* row = static_cast<const uint8_t*>(m.data) + r * row_bytes(m.type, m.cols);
  switch (m.type) {
    case WeightType::kF32: std::memcpy(out.data(), row, out.size() * 4); break;
    case WeightType::kF16:
      convert_row_fp16_to_fp32(reinterpret_cast<const uint16_t*>(row), out.data(), m.cols);
      break;
    case WeightType::kBF16:
      convert_row_bf16_to_fp32(reinterpret_cast<const uint16_t*>(row), out.data(), m.cols);
      break;
    case WeightType::kQ8_0:
      dequantize_row_q8_0(reinterpret_cast<const BlockQ8_0*>(row), out.data(), m.cols);
      break;
    case WeightType::kQ4_0:
      dequantize_row_q4_0(reinterpret_cast<const BlockQ4_0*>(row), out.data(), m.cols);
      break;
  }
  return out;
}

inline std::string isa_label(Isa isa) { return std::string(isa_name(isa)); }

}  // namespace qwenedge::kernels::test
