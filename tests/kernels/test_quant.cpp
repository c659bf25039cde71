// The scalar number formats and reference quantizers (quant.hpp) against hand-computed values.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>

#include "kernel_test_util.hpp"

using namespace qwenedge::kernels;

namespace {

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint32_t to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

}  // namespace

TEST_CASE("fp32 -> fp16: rounding, subnormals, inf, NaN", "[quant]") {
  struct {
    float in;
    uint16_t want;
  } const cases[] = {
      {0.0f, 0x0000},
      {-0.0f, 0x8000},
      {1.0f, 0x3c00},
      {-2.0f, 0xc000},
      {65504.0f, 0x7bff},                                 // largest finite
      {65519.99f, 0x7bff},                                // just below the rounding edge
      {65520.0f, 0x7c00},                                 // ties to even: up to inf
      {1e10f, 0x7c00},
      {std::numeric_limits<float>::infinity(), 0x7c00},
      {-std::numeric_limits<float>::infinity(), 0xfc00},
      {from_bits(0x7fc00000u), 0x7e00},                   // quiet NaN keeps its top payload
      {from_bits(0xffc00000u), 0xfe00},
      {from_bits(0x7f800001u), 0x7e00},                   // signalling NaN comes back quiet
      {0x1p-14f, 0x0400},                                 // smallest normal
      {0x1p-24f, 0x0001},                                 // smallest subnormal
      {0x1p-25f, 0x0000},                                 // tie between 0 and 1: even
      {0x1.000002p-25f, 0x0001},                          // just above the tie
      {0x3p-25f, 0x0002},                                 // tie between 1 and 2: even
      {0x1p-26f, 0x0000},
      {1023 * 0x1p-24f, 0x03ff},                          // largest subnormal
      {1.0f + 0x1p-11f, 0x3c00},                          // tie: down to even
      {1.0f + 0x3p-11f, 0x3c02},                          // tie: up to even
      {from_bits(0x3f801001u), 0x3c01},                   // just above the tie
  };
  for (const auto& c : cases) {
    INFO("in=" << c.in << " bits=" << std::hex << to_bits(c.in));
    REQUIRE(fp32_to_fp16(c.in) == c.want);
  }
}

TEST_CASE("fp16 -> fp32: every value round-trips", "[quant]") {
  REQUIRE(fp16_to_fp32(0x0001) == 0x1p-24f);
  REQUIRE(fp16_to_fp32(0x03ff) == 1023 * 0x1p-24f);
  REQUIRE(fp16_to_fp32(0x3c00) == 1.0f);
  REQUIRE(std::isinf(fp16_to_fp32(0xfc00)));
  REQUIRE(std::signbit(fp16_to_fp32(0x8000)));
  REQUIRE(std::isnan(fp16_to_fp32(0x7e00)));
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const auto hh = static_cast<uint16_t>(h);
    const float f = fp16_to_fp32(hh);
    if (std::isnan(f)) {
      REQUIRE((fp32_to_fp16(f) & 0x7e00) == 0x7e00);  // NaN stays NaN, quieted
    } else {
      REQUIRE(fp32_to_fp16(f) == hh);
    }
  }
}

TEST_CASE("fp32 <-> bf16: rounding, inf, NaN", "[quant]") {
  REQUIRE(fp32_to_bf16(1.0f) == 0x3f80);
  REQUIRE(fp32_to_bf16(from_bits(0x3f808000u)) == 0x3f80);  // tie: down to even
  REQUIRE(fp32_to_bf16(from_bits(0x3f818000u)) == 0x3f82);  // tie: up to even
  REQUIRE(fp32_to_bf16(from_bits(0x3f808001u)) == 0x3f81);
  REQUIRE(fp32_to_bf16(from_bits(0x7f7fffffu)) == 0x7f80);  // largest float rounds to inf
  REQUIRE(fp32_to_bf16(std::numeric_limits<float>::infinity()) == 0x7f80);
  REQUIRE(fp32_to_bf16(from_bits(0x7fa00000u)) == 0x7fe0);  // signalling NaN comes back quiet
  REQUIRE(fp32_to_bf16(from_bits(0x00010000u)) == 0x0001);  // subnormal kept
  REQUIRE(fp32_to_bf16(-0.0f) == 0x8000);
  REQUIRE(bf16_to_fp32(0x3f80) == 1.0f);
  REQUIRE(bf16_to_fp32(0xc040) == -3.0f);
}

TEST_CASE("quantize_row_q8_0: a hand-computed block", "[quant]") {
  // amax = 127 gives d = 1 exactly, so every quant is round-half-away-from-zero of x.
  float x[32] = {};
  x[0] = 127.0f;
  x[1] = -127.0f;
  x[2] = 2.5f;    // tie: away from zero -> 3
  x[3] = -2.5f;   // -> -3
  x[4] = 0.49f;   // -> 0
  x[5] = -3.51f;  // -> -4
  x[31] = 100.2f; // -> 100
  BlockQ8_0 b;
  quantize_row_q8_0(x, &b, 32);
  REQUIRE(b.d == 0x3c00);
  const int8_t want[32] = {127, -127, 3, -3, 0, -4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                           0,   0,    0, 0,  0, 0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 100};
  REQUIRE(std::memcmp(b.qs, want, 32) == 0);

  // All zero: scale 0 and zero quants.
  float z[32] = {};
  quantize_row_q8_0(z, &b, 32);
  REQUIRE(b.d == 0x0000);
  for (int8_t q : b.qs) REQUIRE(q == 0);
}

TEST_CASE("quantize_row_q4_0: hand-computed blocks", "[quant]") {
  // The element of largest magnitude, with its sign, maps to -8: here -8 gives d = 1.
  float x[32] = {};
  x[0] = -8.0f;   // q = 0
  x[1] = 7.0f;    // q = 15
  x[2] = 7.9f;    // 15.9 -> clamped to 15
  x[3] = -0.5f;   // 7.5 rounds half up -> 8
  x[4] = 0.5f;    // -> 9
  x[5] = -3.2f;   // -> 5
  x[16] = 1.0f;   // q = 9, high nibble of byte 0
  x[31] = -7.6f;  // 0.9 truncates -> 0
  BlockQ4_0 b;
  quantize_row_q4_0(x, &b, 32);
  REQUIRE(b.d == 0x3c00);
  const uint8_t q[32] = {0, 15, 15, 8, 9, 5, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
                         9, 8,  8,  8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 0};
  for (int j = 0; j < 16; ++j) {
    INFO("byte " << j);
    REQUIRE(b.qs[j] == (q[j] | (q[j + 16] << 4)));
  }
  // A positive extreme gives a negative scale: 16 -> d = -2, and 16 maps to q = 0.
  float y[32] = {};
  y[0] = 16.0f;
  y[1] = -14.0f;  // -14 / -2 = 7 -> q = 15
  quantize_row_q4_0(y, &b, 32);
  REQUIRE(b.d == 0xc000);
  REQUIRE(b.qs[0] == 0x80);  // q0 = 0, q16 = 8
  REQUIRE(b.qs[1] == 0x8f);
}

TEST_CASE("Q8_0 / Q4_0 round trips stay within one quantization step", "[quant]") {
  const std::vector<float> x = qwenedge::kernels::test::random_floats(32 * 64, 42, 3.0f);
  std::vector<BlockQ8_0> b8(64);
  std::vector<BlockQ4_0> b4(64);
  std::vector<float> y8(x.size()), y4(x.size());
  quantize_row_q8_0(x.data(), b8.data(), 32 * 64);
  quantize_row_q4_0(x.data(), b4.data(), 32 * 64);
  dequantize_row_q8_0(b8.data(), y8.data(), 32 * 64);
  dequantize_row_q4_0(b4.data(), y4.data(), 32 * 64);
  for (size_t i = 0; i < x.size(); ++i) {
    const float d8 = fp16_to_fp32(b8[i / 32].d), d4 = std::fabs(fp16_to_fp32(b4[i / 32].d));
    REQUIRE(std::fabs(x[i] - y8[i]) <= 0.5f * d8 + 1e-3f * d8 * 127.0f);
    REQUIRE(std::fabs(x[i] - y4[i]) <= 1.01f * d4);
  }
}
