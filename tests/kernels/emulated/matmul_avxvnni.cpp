// Test-only: kernels/matmul_avxvnni.cpp over emulated intrinsics (see kernels/simd_x86.hpp).
#include "kernels/matmul_avxvnni.cpp"
