// Matmuls on every available ISA x every weight type against the scalar reference, and the scalar
// reference against an fp64 computation from dequantized values.
//
// Tolerances (stated in docs/KERNELS.md):
// - Q8_0 / Q4_0: bit-identical to the scalar reference on every ISA (each block's integer dot
//   product is exact and every path scales and accumulates blocks in the same order with one
//   fused multiply-add per block).
// - F32 / F16 / BF16: |y - y64| <= 1e-5 * sum |w x| (fp32 accumulation in a different order).
// - Scalar reference vs fp64 for the block types: |y - y64| <= 1e-5 * sum |w x| + 1e-6.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "kernel_test_util.hpp"

using namespace qwenedge::kernels;
using namespace qwenedge::kernels::test;

namespace {

struct Case {
  WeightType type;
  int64_t rows, cols, n_tokens, row_begin, row_end;
};

std::string describe(const Case& c, Isa isa) {
  return std::string(isa_name(isa)) + " " + weight_type_name(c.type) + " rows=" +
         std::to_string(c.rows) + " cols=" + std::to_string(c.cols) +
         " tokens=" + std::to_string(c.n_tokens) + " range=[" + std::to_string(c.row_begin) + "," +
         std::to_string(c.row_end) + ")";
}

// Runs one case on every available ISA and compares with the scalar table's result.
void check_case(const Case& c, uint32_t seed) {
  const TestMatrix tm = make_matrix(c.type, c.rows, c.cols, seed);
  const std::vector<float> x = random_floats(c.n_tokens * c.cols, seed + 1);
  const int64_t ldy = c.rows + 3;  // a row stride wider than the matrix: the kernels must honour it
  const float kSentinel = -12345.0f;

  const KernelTable& ref_k = kernels_for(Isa::kScalar);
  ActivationBuffer ref_buf;
  quantize_activations(ref_k, x.data(), c.n_tokens, c.cols, ref_buf);
  std::vector<float> y_ref(static_cast<size_t>(c.n_tokens * ldy), kSentinel);
  matmul(ref_k, tm.m, ref_buf, y_ref.data(), ldy, c.row_begin, c.row_end);

  // Scalar reference vs fp64 over the values it claims to multiply.
  const ActivationView v = ref_buf.view();
  for (int64_t r = c.row_begin; r < c.row_end; ++r) {
    const std::vector<float> w = dequantized_row(tm.m, r);
    for (int64_t t = 0; t < c.n_tokens; ++t) {
      double sum = 0.0, mag = 0.0;
      for (int64_t k = 0; k < c.cols; ++k) {
        const double xk = is_block_quantized(c.type)
                              ? static_cast<double>(v.d[(t * c.cols + k) / kBlockSize]) *
                                    v.qs[t * c.cols + k]
                              : x[static_cast<size_t>(t * c.cols + k)];
        sum += w[static_cast<size_t>(k)] * xk;
        mag += std::fabs(w[static_cast<size_t>(k)] * xk);
      }
      const double got = y_ref[static_cast<size_t>(t * ldy + r)];
      INFO(describe(c, Isa::kScalar) << " r=" << r << " t=" << t);
      REQUIRE(std::fabs(got - sum) <= 1e-5 * mag + 1e-6);
    }
  }
  // Outside the row range nothing is written.
  for (int64_t t = 0; t < c.n_tokens; ++t) {
    for (int64_t r = 0; r < ldy; ++r) {
      if (r >= c.row_begin && r < c.row_end) continue;
      REQUIRE(y_ref[static_cast<size_t>(t * ldy + r)] == kSentinel);
    }
  }

  for (Isa isa : available_isas()) {
    if (isa == Isa::kScalar) continue;
    const KernelTable& k = kernels_for(isa);
    ActivationBuffer buf;
    quantize_activations(k, x.data(), c.n_tokens, c.cols, buf);
    if (is_block_quantized(c.type)) {
      // The quantized activations are bit-identical on every ISA.
      const int64_t n = c.n_tokens * c.cols, nb = n / kBlockSize;
      REQUIRE(std::memcmp(buf.qs(), ref_buf.qs(), static_cast<size_t>(n)) == 0);
      REQUIRE(std::memcmp(buf.d(), ref_buf.d(), static_cast<size_t>(nb) * 4) == 0);
      REQUIRE(std::memcmp(buf.sums(), ref_buf.sums(), static_cast<size_t>(nb) * 4) == 0);
    }
    std::vector<float> y(static_cast<size_t>(c.n_tokens * ldy), kSentinel);
    matmul(k, tm.m, buf, y.data(), ldy, c.row_begin, c.row_end);
    if (is_block_quantized(c.type) && k.reads_packed) {
      // The load-time packed layout gives the same bits. Packed in two parts, as two threads do.
      std::vector<uint8_t> packed(static_cast<size_t>(packed_matrix_bytes(tm.m)), 0xee);
      const int64_t mid = c.rows / 2 / kPackedRows * kPackedRows;
      pack_matrix(tm.m, mid, c.rows, packed.data());
      pack_matrix(tm.m, 0, mid, packed.data());
      Matrix pm = tm.m;
      pm.packed = packed.data();
      // Where the range starts on a group the GGUF rows must not be read at all: give the
      // kernel other weights there, so reading them would show.
      const TestMatrix other = make_matrix(c.type, c.rows, c.cols, seed + 7);
      if (c.row_begin % kPackedRows == 0) pm.data = other.m.data;
      if (c.n_tokens == 1) {  // each row read back from the packed layout is the GGUF row
        std::vector<float> row(static_cast<size_t>(c.cols));
        pm.data = tm.m.data;
        for (int64_t r = 0; r < c.rows; ++r) {
          unpack_row(pm, r, row.data());
          REQUIRE(row == dequantized_row(tm.m, r));
        }
        // And the rows unpacked (for a file stored packed) are the GGUF bytes, in two parts.
        const int64_t rb = row_bytes(c.type, c.cols);
        std::vector<uint8_t> rows(static_cast<size_t>(c.rows * rb), 0xee);
        unpack_matrix(pm, 0, c.rows / 3, rows.data());
        unpack_matrix(pm, c.rows / 3, c.rows, rows.data() + c.rows / 3 * rb);
        REQUIRE(std::memcmp(rows.data(), tm.m.data, rows.size()) == 0);
        if (c.row_begin % kPackedRows == 0) pm.data = other.m.data;
      }
      std::vector<float> yp(static_cast<size_t>(c.n_tokens * ldy), kSentinel);
      matmul(k, pm, buf, yp.data(), ldy, c.row_begin, c.row_end);
      INFO(describe(c, isa) << " packed");
      REQUIRE(std::memcmp(yp.data(), y.data(), y.size() * sizeof(float)) == 0);
    }
    for (int64_t t = 0; t < c.n_tokens; ++t) {
      for (int64_t r = 0; r < ldy; ++r) {
        const size_t i = static_cast<size_t>(t * ldy + r);
        INFO(describe(c, isa) << " r=" << r << " t=" << t << " got=" << y[i] << " want=" << y_ref[i]);
        if (r < c.row_begin || r >= c.row_end || is_block_quantized(c.type)) {
          REQUIRE(y[i] == y_ref[i]);
        } else {
          double mag = 0.0;
          const std::vector<float> w = dequantized_row(tm.m, r);
          for (int64_t kk = 0; kk < c.cols; ++kk) {
            mag += std::fabs(w[static_cast<size_t>(kk)] * x[static_cast<size_t>(t * c.cols + kk)]);
          }
          REQUIRE(std::fabs(static_cast<double>(y[i]) - y_ref[i]) <= 1e-5 * mag + 1e-6);
        }
      }
    }
  }
}

}  // namespace

TEST_CASE("matmul: block types, all ISAs, odd shapes and row ranges", "[matmul]") {
  uint32_t seed = 100;
  for (WeightType type : {WeightType::kQ8_0, WeightType::kQ4_0}) {
    for (int64_t cols : {32, 64, 96, 896}) {
      for (int64_t rows : {1, 3, 7, 8, 16, 17, 37}) {
        for (int64_t n : {1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17}) {
          check_case({type, rows, cols, n, 0, rows}, seed++);
        }
      }
      // Ranges that start and end mid-way through the SIMD row groups.
      check_case({type, 53, cols, 1, 5, 50}, seed++);
      check_case({type, 53, cols, 6, 3, 29}, seed++);
      check_case({type, 53, cols, 11, 17, 18}, seed++);
      check_case({type, 53, cols, 9, 20, 20}, seed++);
      // Ranges on group boundaries, as the engine's threads take them (packed layout).
      check_case({type, 53, cols, 1, 8, 53}, seed++);
      check_case({type, 53, cols, 5, 16, 40}, seed++);
    }
    check_case({type, 40, 896, 64, 0, 40}, seed++);
    check_case({type, 21, 896, 131, 2, 21}, seed++);
    for (int64_t n : {1, 3, 17}) check_case({type, 19, 4864, n, 1, 19}, seed++);
  }
}

TEST_CASE("matmul: float types, all ISAs, odd shapes and row ranges", "[matmul]") {
  uint32_t seed = 900;
  for (WeightType type : {WeightType::kF32, WeightType::kF16, WeightType::kBF16}) {
    for (int64_t cols : {1, 7, 8, 31, 32, 33, 100, 896}) {
      for (int64_t rows : {1, 3, 5, 17}) {
        for (int64_t n : {1, 2, 3, 5}) check_case({type, rows, cols, n, 0, rows}, seed++);
      }
      check_case({type, 29, cols, 4, 3, 27}, seed++);
    }
    check_case({type, 9, 4864, 3, 0, 9}, seed++);
    check_case({type, 13, 896, 17, 1, 12}, seed++);
  }
}

TEST_CASE("matmul: integer block sums are exact with unit scales", "[matmul]") {
  // With every weight scale 1.0 (fp16 0x3c00) and every activation scale 1.0, y is the exact
  // integer sum of products, well inside fp32's exact-integer range.
  // cols * 128 * 127 < 2^24 keeps every partial sum exact in fp32.
  const int64_t rows = 23, cols = 896, n_tokens = 5;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> q8(-128, 127), q4(0, 15), xq(-127, 127);
  std::vector<BlockQ8_0> w8(static_cast<size_t>(rows * cols / kBlockSize));
  std::vector<BlockQ4_0> w4(w8.size());
  for (auto& b : w8) {
    b.d = 0x3c00;
    for (auto& q : b.qs) q = static_cast<int8_t>(q8(rng));
  }
  for (auto& b : w4) {
    b.d = 0x3c00;
    for (auto& q : b.qs) q = static_cast<uint8_t>(q4(rng) | (q4(rng) << 4));
  }
  for (Isa isa : available_isas()) {
    const KernelTable& k = kernels_for(isa);
    ActivationBuffer buf;
    std::vector<float> x(static_cast<size_t>(n_tokens * cols), 0.0f);
    buf.prepare(x.data(), n_tokens, cols);
    int64_t nb = cols / kBlockSize;
    for (int64_t i = 0; i < n_tokens * cols; ++i) buf.qs()[i] = static_cast<int8_t>(xq(rng));
    for (int64_t i = 0; i < n_tokens * nb; ++i) {
      buf.d()[i] = 1.0f;
      int32_t s = 0;
      for (int j = 0; j < kBlockSize; ++j) s += buf.qs()[i * kBlockSize + j];
      buf.sums()[i] = s;
    }
    for (WeightType type : {WeightType::kQ8_0, WeightType::kQ4_0}) {
      const Matrix m{type, rows, cols,
                     type == WeightType::kQ8_0 ? static_cast<const void*>(w8.data()) : w4.data()};
      std::vector<float> y(static_cast<size_t>(n_tokens * rows));
      for (int64_t n : {int64_t{1}, n_tokens}) {
        ActivationView v = buf.view();
        v.n_tokens = n;
        k.matmul(m, v, y.data(), rows, 0, rows);
        for (int64_t t = 0; t < n; ++t) {
          for (int64_t r = 0; r < rows; ++r) {
            int64_t want = 0;
            for (int64_t c = 0; c < cols; ++c) {
              const int64_t b = r * nb + c / kBlockSize, j = c % kBlockSize;
              const int wq = type == WeightType::kQ8_0
                                 ? w8[static_cast<size_t>(b)].qs[j]
                                 : (j < 16 ? (w4[static_cast<size_t>(b)].qs[j] & 15)
                                           : (w4[static_cast<size_t>(b)].qs[j - 16] >> 4)) - 8;
              want += wq * buf.qs()[t * cols + c];
            }
            INFO(isa_name(isa) << " " << weight_type_name(type) << " n=" << n << " t=" << t
                               << " r=" << r);
            REQUIRE(y[static_cast<size_t>(t * rows + r)] == static_cast<float>(want));
          }
        }
      }
    }
  }
}

TEST_CASE("matmul: checked wrapper rejects inconsistent shapes", "[matmul]") {
  const KernelTable& k = kernels_for(Isa::kScalar);
  const TestMatrix tm = make_matrix(WeightType::kQ8_0, 4, 64, 1);
  std::vector<float> x(96, 0.5f), y(16);
  ActivationBuffer buf;
  quantize_activations(k, x.data(), 1, 96, buf);
  REQUIRE_THROWS_AS(matmul(k, tm.m, buf, y.data(), 4, 0, 4), std::invalid_argument);
  quantize_activations(k, x.data(), 1, 64, buf);
  REQUIRE_THROWS_AS(matmul(k, tm.m, buf, y.data(), 4, 0, 5), std::invalid_argument);
  REQUIRE_THROWS_AS(matmul(k, tm.m, buf, y.data(), 4, 3, 2), std::invalid_argument);
  REQUIRE_NOTHROW(matmul(k, tm.m, buf, y.data(), 4, 0, 4));
}

TEST_CASE("row_slice covers the rows in granules without overlap", "[matmul]") {
  for (int64_t rows : {1, 15, 16, 17, 128, 896, 4864, 151936}) {
    for (int count : {1, 2, 3, 4, 7}) {
      int64_t next = 0;
      for (int i = 0; i < count; ++i) {
        const RowRange rr = row_slice(rows, count, i);
        REQUIRE(rr.begin == next);
        REQUIRE(rr.end >= rr.begin);
        if (rr.end < rows) REQUIRE(rr.end % kRowGranule == 0);
        next = rr.end;
      }
      REQUIRE(next == rows);
    }
  }
}
