// The kernels' front door: one table of function pointers per ISA, chosen once at start-up.
//
// Threading contract: every kernel here is single-threaded and touches only what its arguments
// name. The engine runs one parallel step of its thread pool per forward pass; inside it the
// threads quantize a matmul input (then meet at a barrier), and each thread calls matmul() for
// its own slice of rows (row_slice() below), so no kernel ever waits on another.
#pragma once

#include <cstdint>

#include "kernels/isa.hpp"
#include "kernels/matmul.hpp"

namespace qwenedge::kernels {

struct KernelTable {
  Isa isa = Isa::kScalar;
  // Whether matmul() reads Matrix::packed: worth packing the weights at load for this ISA.
  bool reads_packed = false;

  // Quantizes n_tokens rows of cols floats (row stride cols) to int8 blocks of 32:
  // d = amax / 127, qs = round-to-nearest-even(x * (1 / d)), sums = sum of the block's qs.
  // Bit-identical on every ISA. cols must be a multiple of 32.
  void (*quantize_activations)(const float* x, int64_t n_tokens, int64_t cols, int8_t* qs,
                               float* d, int32_t* sums) noexcept;

  // y[t * ldy + r] = W[r] . x[t] for r in [row_begin, row_end), t < x.n_tokens. W.cols == x.cols.
  // Block types read x.qs/x.d/x.sums; float types read x.x.
  void (*matmul)(const Matrix& w, const ActivationView& x, float* y, int64_t ldy, int64_t row_begin,
                 int64_t row_end) noexcept;

  // Elementwise, fp32. y = x / sqrt(mean(x^2) + eps) * w over n elements (y may alias x).
  void (*rmsnorm)(const float* x, const float* w, float* y, int64_t n, float eps) noexcept;
  // out = silu(gate) * up = gate / (1 + exp(-gate)) * up (out may alias gate or up).
  void (*silu_mul)(const float* gate, const float* up, float* out, int64_t n) noexcept;
  // In place: x = exp(x - max x) / sum.
  void (*softmax)(float* x, int64_t n) noexcept;
  // fp32 <-> IEEE fp16 rows (round to nearest even), bit-identical to quant.hpp's scalar ones.
  void (*fp32_to_fp16_row)(const float* x, uint16_t* y, int64_t n) noexcept;
  void (*fp16_to_fp32_row)(const uint16_t* x, float* y, int64_t n) noexcept;
  // Attention over an fp16 KV cache: sum a[i] * fp16(b[i]), and y[i] += a * fp16(x[i]).
  float (*dot_f16)(const float* a, const uint16_t* b, int64_t n) noexcept;
  void (*axpy_f16)(float a, const uint16_t* x, float* y, int64_t n) noexcept;
  // Causal attention over an fp16 KV cache for nt query tokens of one sequence and the nq query
  // heads that share one KV head (grouped-query):
  //   out_t[h] = sum_j softmax_j(scale * q_t[h] . k[j]) * v[j]   for j < n[t], h < nq, t < nt
  // q_t = q + t * ld and out_t = out + t * ld: [nq, dh] fp32 each (contiguous heads); k[j] =
  // k + j * kv_stride, v likewise; n[t] >= 1. Each token's result depends only on its own q_t and
  // n[t], never on which other tokens share the call: the tokens share the widening of each key
  // and value row, not arithmetic. scratch: attend_scratch_floats(nq, max n[t]) floats.
  void (*attend_f16)(const float* q, const int64_t* n, int64_t nt, int64_t ld, int64_t nq,
                     const uint16_t* k, const uint16_t* v, int64_t kv_stride, int64_t dh, float scale,
                     float* scratch, float* out) noexcept;
};

// Scratch attend_f16 needs for nq heads over up to n positions (the one-head-at-a-time kernels
// keep each head's scores; the grouped x86 kernel needs none).
inline int64_t attend_scratch_floats(int64_t nq, int64_t n) noexcept { return nq * n; }

// The table for one ISA. Throws std::runtime_error when the ISA is not supported here.
const KernelTable& kernels_for(Isa isa);
// The table for isa_from_env(), resolved once on first call (thread-safe). Throws like
// isa_from_env() on a bad QWENEDGE_ISA; a later call retries.
const KernelTable& active_kernels();

// Load-time repacking of Q8_0 / Q4_0 weights into the row-interleaved layout (pack.hpp) that
// the x86 kernels read without per-call packing or horizontal sums. Same size as the GGUF rows.
inline constexpr int kPackedRows = 8;
// Bytes pack_matrix() writes for all of w; 0 for the float types.
int64_t packed_matrix_bytes(const Matrix& w) noexcept;
// Packs rows [row_begin, row_end) into `packed` (the whole matrix's buffer; row_begin a multiple
// of kPackedRows), so several threads can each pack a share of one matrix.
void pack_matrix(const Matrix& w, int64_t row_begin, int64_t row_end, uint8_t* packed) noexcept;
// The inverse: rows [row_begin, row_end) of w.packed back to GGUF rows, row r at
// rows + (r - row_begin) * row_bytes (for kernels that read rows, from a file stored packed).
void unpack_matrix(const Matrix& w, int64_t row_begin, int64_t row_end, uint8_t* rows) noexcept;
// Row r of a packed matrix as fp32, equal to dequantizing the GGUF row (embedding lookups in a
// tied head, so the file's copy of the table need not stay in memory).
void unpack_row(const Matrix& w, int64_t r, float* y) noexcept;

// Checked wrappers (throw std::invalid_argument on inconsistent shapes).
// Prepares `out` for x (n_tokens x cols, row stride cols) and quantizes it when cols allows.
void quantize_activations(const KernelTable& k, const float* x, int64_t n_tokens, int64_t cols,
                          ActivationBuffer& out);
void matmul(const KernelTable& k, const Matrix& w, const ActivationBuffer& x, float* y, int64_t ldy,
            int64_t row_begin, int64_t row_end);

// The rows [begin, end) that thread `index` of `count` should take of `rows`, in whole granules
// (the micro-kernels' row tile, kRowGranule) so that no thread gets a ragged tile but the last.
struct RowRange {
  int64_t begin = 0;
  int64_t end = 0;
};
inline constexpr int64_t kRowGranule = 16;
RowRange row_slice(int64_t rows, int count, int index) noexcept;

}  // namespace qwenedge::kernels
