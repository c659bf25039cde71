// AVX2 + FMA + F16C elementwise kernels (the code is in elementwise_x86_256.inc).
#define QWENEDGE_ISA_NS avx2
#include "kernels/elementwise_x86_256.inc"
