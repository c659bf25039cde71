// Test-only: kernels/matmul_avx2.cpp over emulated intrinsics (see kernels/simd_x86.hpp).
#include "kernels/matmul_avx2.cpp"
