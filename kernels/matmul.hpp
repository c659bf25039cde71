// The matmul contract: weights as stored in GGUF, activations prepared once per input, and
// single-threaded kernels over a row range (the engine's threads each take a slice of rows).
//
//   y[t * ldy + r] = sum_k W[r][k] * x[t][k]   for r in [row_begin, row_end), t < n_tokens
//
// For Q8_0 / Q4_0 weights the activations are first quantized to int8 blocks of 32 with an fp32
// scale (and the block sum of the int8 values, which the unsigned-by-signed dot products need);
// each block's integer dot product is exact and is scaled and accumulated in fp32, block by block.
// For F32 / F16 / BF16 weights the fp32 activations are used as they are (fp32 FMA).
#pragma once

#include <cstdint>
#include <memory>

#include "kernels/quant.hpp"

namespace qwenedge::kernels {

// The GGUF weight types the matmuls read. Values are not GGUF ids; the engine maps them.
enum class WeightType : uint8_t { kF32, kF16, kBF16, kQ8_0, kQ4_0 };

const char* weight_type_name(WeightType type) noexcept;
// True for Q8_0 / Q4_0: their cols must be a multiple of kBlockSize and they read quantized
// activations.
bool is_block_quantized(WeightType type) noexcept;
// Bytes of one stored row of `cols` weights (cols a multiple of 32 for the block types).
int64_t row_bytes(WeightType type, int64_t cols) noexcept;

// A row-major weight matrix exactly as stored in GGUF: row r starts at data + r * row_bytes(type,
// cols). Borrowed: the matrix does not own the data (it is usually the mmapped file).
// `packed`, when set, is the same Q8_0 / Q4_0 matrix in the row-interleaved layout of pack.hpp,
// groups of kPackedRows rows one after another (pack_matrix in kernels.hpp writes it). Kernels
// that know the layout read it instead of `data` for row ranges that start on a group; the
// others ignore it. Results are bit-identical either way.
struct Matrix {
  WeightType type = WeightType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const void* data = nullptr;
  const void* packed = nullptr;
};

// What the kernels read of one matmul input: plain pointers, so per-ISA code never instantiates
// shared inline code.
struct ActivationView {
  const float* x = nullptr;      // fp32 rows, n_tokens x cols, row stride cols; borrowed
  const int8_t* qs = nullptr;    // int8 rows, n_tokens x cols, row stride cols
  const float* d = nullptr;      // block scales, n_tokens x cols/32: x ~= d * qs
  const int32_t* sums = nullptr; // block sums of qs, n_tokens x cols/32
  int64_t n_tokens = 0;
  int64_t cols = 0;
};

// Caller-owned storage for one quantized matmul input. Filled once (by one thread) with
// quantize_activations(), then read by every thread. Grows on demand and keeps its capacity, so a
// buffer sized for the longest batch never allocates again.
class ActivationBuffer {
 public:
  ActivationBuffer();
  ~ActivationBuffer();
  ActivationBuffer(ActivationBuffer&&) noexcept;
  ActivationBuffer& operator=(ActivationBuffer&&) noexcept;
  ActivationBuffer(const ActivationBuffer&) = delete;
  ActivationBuffer& operator=(const ActivationBuffer&) = delete;

  // Sizes the buffer for n_tokens x cols (cols a multiple of 32 when quantized) and records x,
  // which must stay valid while the buffer is read. Contents are left for the quantizer to fill.
  void prepare(const float* x, int64_t n_tokens, int64_t cols);

  ActivationView view() const noexcept;
  int8_t* qs() noexcept;
  float* d() noexcept;
  int32_t* sums() noexcept;
  int64_t n_tokens() const noexcept { return n_tokens_; }
  int64_t cols() const noexcept { return cols_; }

 private:
  const float* x_ = nullptr;
  int64_t n_tokens_ = 0;
  int64_t cols_ = 0;
  int64_t capacity_ = 0;  // bytes in storage_
  std::unique_ptr<std::byte[]> storage_;  // qs | d | sums, each 64-byte aligned
  int8_t* qs_ = nullptr;
  float* d_ = nullptr;
  int32_t* sums_ = nullptr;
};

}  // namespace qwenedge::kernels
