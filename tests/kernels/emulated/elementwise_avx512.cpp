// Test-only: kernels/elementwise_avx512.cpp over emulated intrinsics (see kernels/simd_x86.hpp).
#include "kernels/elementwise_avx512.cpp"
