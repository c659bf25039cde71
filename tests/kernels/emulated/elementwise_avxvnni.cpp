// Test-only: kernels/elementwise_avxvnni.cpp over emulated intrinsics (see kernels/simd_x86.hpp).
#include "kernels/elementwise_avxvnni.cpp"
