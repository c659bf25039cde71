// Weight-type helpers, the activation buffer and the checked matmul entry points. Baseline code:
// compiled without ISA flags, so it is safe to call from anywhere.
#include "kernels/matmul.hpp"

#include <stdexcept>
#include <string>

#include "kernels/kernels.hpp"

namespace qwenedge::kernels {
namespace {

constexpr int64_t kAlign = 64;

int64_t align_up(int64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

}  // namespace

const char* weight_type_name(WeightType type) noexcept {
  switch (type) {
    case WeightType::kF32: return "F32";
    case WeightType::kF16: return "F16";
    case WeightType::kBF16: return "BF16";
    case WeightType::kQ8_0: return "Q8_0";
    case WeightType::kQ4_0: return "Q4_0";
  }
  return "?";
}

bool is_block_quantized(WeightType type) noexcept {
  return type == WeightType::kQ8_0 || type == WeightType::kQ4_0;
}

int64_t row_bytes(WeightType type, int64_t cols) noexcept {
  switch (type) {
    case WeightType::kF32: return cols * 4;
    case WeightType::kF16:
    case WeightType::kBF16: return cols * 2;
    case WeightType::kQ8_0: return cols / kBlockSize * static_cast<int64_t>(sizeof(BlockQ8_0));
    case WeightType::kQ4_0: return cols / kBlockSize * static_cast<int64_t>(sizeof(BlockQ4_0));
  }
  return 0;
}

ActivationBuffer::ActivationBuffer() = default;
ActivationBuffer::~ActivationBuffer() = default;
ActivationBuffer::ActivationBuffer(ActivationBuffer&&) noexcept = default;
ActivationBuffer& ActivationBuffer::operator=(ActivationBuffer&&) noexcept = default;

void ActivationBuffer::prepare(const float* x, int64_t n_tokens, int64_t cols) {
  if (n_tokens < 0 || cols < 0) throw std::invalid_argument("ActivationBuffer: negative shape");
  const int64_t nb = cols / kBlockSize;
  const int64_t qs_bytes = align_up(n_tokens * cols);
  const int64_t d_bytes = align_up(n_tokens * nb * 4);
  const int64_t need = qs_bytes + 2 * d_bytes + kAlign;
  if (need > capacity_) {
    storage_ = std::make_unique<std::byte[]>(static_cast<size_t>(need));
    capacity_ = need;
  }
  auto base = reinterpret_cast<uintptr_t>(storage_.get());
  base = (base + kAlign - 1) / kAlign * kAlign;
  auto* p = reinterpret_cast<std::byte*>(base);
  qs_ = reinterpret_cast<int8_t*>(p);
  d_ = reinterpret_cast<float*>(p + qs_bytes);
  sums_ = reinterpret_cast<int32_t*>(p + qs_bytes + d_bytes);
  x_ = x;
  n_tokens_ = n_tokens;
  cols_ = cols;
}

ActivationView ActivationBuffer::view() const noexcept {
  return ActivationView{x_, qs_, d_, sums_, n_tokens_, cols_};
}
int8_t* ActivationBuffer::qs() noexcept { return qs_; }
float* ActivationBuffer::d() noexcept { return d_; }
int32_t* ActivationBuffer::sums() noexcept { return sums_; }

void quantize_activations(const KernelTable& k, const float* x, int64_t n_tokens, int64_t cols,
                          ActivationBuffer& out) {
  out.prepare(x, n_tokens, cols);
  if (cols % kBlockSize == 0 && n_tokens > 0) {
    k.quantize_activations(x, n_tokens, cols, out.qs(), out.d(), out.sums());
  }
}

void matmul(const KernelTable& k, const Matrix& w, const ActivationBuffer& x, float* y, int64_t ldy,
            int64_t row_begin, int64_t row_end) {
  if (w.cols != x.cols()) {
    throw std::invalid_argument("matmul: weight cols " + std::to_string(w.cols) +
                                " != activation cols " + std::to_string(x.cols()));
  }
  if (row_begin < 0 || row_end > w.rows || row_begin > row_end) {
    throw std::invalid_argument("matmul: row range [" + std::to_string(row_begin) + ", " +
                                std::to_string(row_end) + ") outside " + std::to_string(w.rows) +
                                " rows");
  }
  if (is_block_quantized(w.type) && w.cols % kBlockSize != 0) {
    throw std::invalid_argument(std::string("matmul: ") + weight_type_name(w.type) +
                                " needs cols a multiple of 32, got " + std::to_string(w.cols));
  }
  if (x.n_tokens() > 1 && ldy < row_end) {
    throw std::invalid_argument("matmul: ldy " + std::to_string(ldy) + " < row_end");
  }
  k.matmul(w, x.view(), y, ldy, row_begin, row_end);
}

RowRange row_slice(int64_t rows, int count, int index) noexcept {
  if (count <= 1) return {0, rows};
  const int64_t granules = (rows + kRowGranule - 1) / kRowGranule;
  const int64_t per = granules / count, extra = granules % count;
  const int64_t g0 = index * per + (index < extra ? index : extra);
  const int64_t g1 = g0 + per + (index < extra ? 1 : 0);
  const int64_t b = g0 * kRowGranule, e = g1 * kRowGranule;
  return {b < rows ? b : rows, e < rows ? e : rows};
}

}  // namespace qwenedge::kernels
