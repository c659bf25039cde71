// AVX-512 elementwise kernels: the 256-bit ones (memory-bound at these sizes; see
// elementwise_x86_256.inc), compiled with this ISA's flags.
#define QWENEDGE_ISA_NS avx512
#include "kernels/elementwise_x86_256.inc"
