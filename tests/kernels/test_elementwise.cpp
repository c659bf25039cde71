// Elementwise kernels on every available ISA against the scalar reference.
// Tolerances: fp16 conversions bit-identical; rmsnorm, dot/axpy over fp16 within 1e-5 relative
// (summation order); silu_mul and softmax within 2e-6 relative plus 1e-7 absolute (the SIMD exp
// is a polynomial accurate to about 2 ulp).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernel_test_util.hpp"

using namespace qwenedge::kernels;
using namespace qwenedge::kernels::test;

namespace {

const int64_t kSizes[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 896, 4864};

bool close(float got, float want, float rel, float abs) {
  return std::fabs(got - want) <= rel * std::fabs(want) + abs;
}

}  // namespace

TEST_CASE("fp32 <-> fp16 rows are bit-identical on every ISA", "[elementwise]") {
  std::vector<float> x = random_floats(4864, 3, 100.0f);
  const float specials[] = {0.0f, -0.0f, 65504.0f, 65520.0f, 1e10f, -1e10f, 0x1p-24f, 0x1p-25f,
                            0x3p-25f, 1023 * 0x1p-24f, 0x1p-14f, 1.0f + 0x1p-11f,
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(), 1e-30f, -3e-6f};
  for (size_t i = 0; i < std::size(specials); ++i) x[i * 7] = specials[i];
  for (size_t i = 200; i < 400; ++i) x[i] *= 1e-7f;  // subnormal fp16 range
  std::vector<uint16_t> h_ref(x.size()), h(x.size());
  std::vector<float> f_ref(x.size()), f(x.size());
  for (Isa isa : available_isas()) {
    const KernelTable& k = kernels_for(isa);
    for (int64_t n : kSizes) {
      kernels_for(Isa::kScalar).fp32_to_fp16_row(x.data(), h_ref.data(), n);
      k.fp32_to_fp16_row(x.data(), h.data(), n);
      INFO(isa_name(isa) << " n=" << n);
      REQUIRE(std::memcmp(h.data(), h_ref.data(), static_cast<size_t>(n) * 2) == 0);
      kernels_for(Isa::kScalar).fp16_to_fp32_row(h_ref.data(), f_ref.data(), n);
      k.fp16_to_fp32_row(h_ref.data(), f.data(), n);
      REQUIRE(std::memcmp(f.data(), f_ref.data(), static_cast<size_t>(n) * 4) == 0);
    }
    // Every fp16 bit pattern widens identically, except that a signalling NaN may come back
    // quieted (hardware converters set the quiet bit; the scalar one keeps the payload as is).
    std::vector<uint16_t> all(65536);
    for (uint32_t i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
    std::vector<float> wa(65536), wb(65536);
    kernels_for(Isa::kScalar).fp16_to_fp32_row(all.data(), wa.data(), 65536);
    k.fp16_to_fp32_row(all.data(), wb.data(), 65536);
    for (size_t i = 0; i < wa.size(); ++i) {
      INFO(isa_name(isa) << " fp16 bits " << i);
      if (std::isnan(wa[i])) {
        REQUIRE(std::isnan(wb[i]));
      } else {
        REQUIRE(std::memcmp(&wa[i], &wb[i], 4) == 0);
      }
    }
  }
}

TEST_CASE("rmsnorm, silu_mul, softmax, dot_f16, axpy_f16 match the scalar reference", "[elementwise]") {
  const KernelTable& ref = kernels_for(Isa::kScalar);
  const std::vector<float> a = random_floats(4864, 11, 2.0f);
  const std::vector<float> b = random_floats(4864, 12, 2.0f);
  std::vector<uint16_t> bh(b.size());
  convert_row_fp32_to_fp16(b.data(), bh.data(), static_cast<int64_t>(b.size()));
  for (Isa isa : available_isas()) {
    const KernelTable& k = kernels_for(isa);
    for (int64_t n : kSizes) {
      INFO(isa_name(isa) << " n=" << n);
      const auto un = static_cast<size_t>(n);
      std::vector<float> y_ref(un), y(un);
      ref.rmsnorm(a.data(), b.data(), y_ref.data(), n, 1e-6f);
      k.rmsnorm(a.data(), b.data(), y.data(), n, 1e-6f);
      for (size_t i = 0; i < un; ++i) REQUIRE(close(y[i], y_ref[i], 1e-5f, 1e-7f));
      // In place.
      std::vector<float> inplace(a.begin(), a.begin() + n);
      k.rmsnorm(inplace.data(), b.data(), inplace.data(), n, 1e-6f);
      for (size_t i = 0; i < un; ++i) REQUIRE(close(inplace[i], y_ref[i], 1e-5f, 1e-7f));

      ref.silu_mul(a.data(), b.data(), y_ref.data(), n);
      k.silu_mul(a.data(), b.data(), y.data(), n);
      for (size_t i = 0; i < un; ++i) REQUIRE(close(y[i], y_ref[i], 2e-6f, 1e-7f));

      std::vector<float> s_ref(a.begin(), a.begin() + n), s(a.begin(), a.begin() + n);
      for (auto& v : s_ref) v *= 10.0f;
      for (auto& v : s) v *= 10.0f;
      ref.softmax(s_ref.data(), n);
      k.softmax(s.data(), n);
      for (size_t i = 0; i < un; ++i) REQUIRE(close(s[i], s_ref[i], 2e-6f, 1e-7f));

      double mag = 0.0;
      for (size_t i = 0; i < un; ++i) mag += std::fabs(a[i] * fp16_to_fp32(bh[i]));
      REQUIRE(std::fabs(k.dot_f16(a.data(), bh.data(), n) - ref.dot_f16(a.data(), bh.data(), n)) <=
              1e-5 * mag + 1e-7);

      std::vector<float> acc_ref(b.begin(), b.begin() + n), acc(b.begin(), b.begin() + n);
      ref.axpy_f16(0.37f, bh.data(), acc_ref.data(), n);
      k.axpy_f16(0.37f, bh.data(), acc.data(), n);
      for (size_t i = 0; i < un; ++i) REQUIRE(close(acc[i], acc_ref[i], 1e-6f, 1e-6f));
    }
    // silu at the extremes: no NaN from exp overflow.
    const float g[4] = {-100.0f, 100.0f, -88.5f, 0.0f}, u[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    float o[4];
    k.silu_mul(g, u, o, 4);
    REQUIRE(std::fabs(o[0]) < 1e-30f);
    REQUIRE(o[1] == 100.0f);
    REQUIRE(std::isfinite(o[2]));
    REQUIRE(o[3] == 0.0f);
  }
}

TEST_CASE("attend_f16 matches an fp64 computation on every ISA, for one token and for tiles", "[elementwise]") {
  uint32_t seed = 900;
  for (int64_t dh : {64, 128, 40}) {
    for (int64_t nq : {1, 2, 3, 5, 6, 7, 8, 9, 12}) {
      for (int64_t n : {1, 2, 9, 33, 300}) {
        const int64_t kv_stride = 2 * dh + 8;  // rows of the cache are wider than one head
        const int64_t ld = nq * dh + 24;       // and so are the query and output rows
        // Up to 11 query tokens at the last positions (a prefill tile, its tail tile of 3, and
        // tokens of one position when n is small), and each token alone.
        const int64_t nt = std::min<int64_t>(n, 11);
        std::vector<int64_t> n_pos(static_cast<size_t>(nt));
        for (int64_t t = 0; t < nt; ++t) n_pos[static_cast<size_t>(t)] = n - nt + 1 + t;
        const std::vector<float> q = random_floats(nt * ld, seed++);
        std::vector<uint16_t> k(static_cast<size_t>(n * kv_stride)), v(k.size());
        const std::vector<float> kf = random_floats(n * kv_stride, seed++), vf = random_floats(n * kv_stride, seed++);
        convert_row_fp32_to_fp16(kf.data(), k.data(), n * kv_stride);
        convert_row_fp32_to_fp16(vf.data(), v.data(), n * kv_stride);
        const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
        // fp64 over the fp16 values the kernel reads.
        std::vector<double> want(static_cast<size_t>(nt * ld), 0.0);
        for (int64_t t = 0; t < nt; ++t) {
          const int64_t nt_pos = n_pos[static_cast<size_t>(t)];
          for (int64_t h = 0; h < nq; ++h) {
            const float* qh = q.data() + t * ld + h * dh;
            std::vector<double> s(static_cast<size_t>(nt_pos));
            double mx = -1e300, sum = 0.0;
            for (int64_t j = 0; j < nt_pos; ++j) {
              double d = 0.0;
              for (int64_t i = 0; i < dh; ++i) d += qh[i] * static_cast<double>(fp16_to_fp32(k[j * kv_stride + i]));
              s[j] = d * scale;
              mx = std::max(mx, s[j]);
            }
            for (double& x : s) sum += (x = std::exp(x - mx));
            double* w = want.data() + t * ld + h * dh;
            for (int64_t j = 0; j < nt_pos; ++j) {
              for (int64_t i = 0; i < dh; ++i) w[i] += s[j] / sum * fp16_to_fp32(v[j * kv_stride + i]);
            }
          }
        }
        for (Isa isa : available_isas()) {
          const KernelTable& kt = kernels_for(isa);
          std::vector<float> scratch(static_cast<size_t>(attend_scratch_floats(nq, n)));
          std::vector<float> out(static_cast<size_t>(nt * ld), -1.0f), alone(static_cast<size_t>(nq * dh), -1.0f);
          kt.attend_f16(q.data(), n_pos.data(), nt, ld, nq, k.data(), v.data(), kv_stride, dh, scale, scratch.data(),
                        out.data());
          for (int64_t t = 0; t < nt; ++t) {
            INFO(isa_name(isa) << " dh=" << dh << " nq=" << nq << " n=" << n << " token " << t);
            for (int64_t i = 0; i < nq * dh; ++i) {
              INFO("i=" << i);
              REQUIRE(std::fabs(out[t * ld + i] - want[t * ld + i]) <= 1e-5 * (1.0 + std::fabs(want[t * ld + i])));
            }
            // Tokens share widening, not arithmetic: each token alone gives the same floats, so
            // how a prompt is split into tiles (or threads) cannot change the numbers.
            kt.attend_f16(q.data() + t * ld, &n_pos[static_cast<size_t>(t)], 1, ld, nq, k.data(), v.data(), kv_stride,
                          dh, scale, scratch.data(), alone.data());
            REQUIRE(std::equal(alone.begin(), alone.end(), out.begin() + t * ld));
            // The padding between rows is not written.
            if (t + 1 < nt) REQUIRE(out[t * ld + nq * dh] == -1.0f);
          }
        }
      }
    }
  }
}
