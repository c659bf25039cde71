// Internal: x86 intrinsics for the per-ISA files. Included only by files compiled with ISA flags.
//
// Normally this is <immintrin.h>. A test build may define QWENEDGE_KERNELS_EMULATE_X86 to compile
// the AVX-512 and AVX-VNNI files on top of SIMDe (portable implementations of the intrinsics) with
// only AVX2 enabled, so that their logic is tested on machines without those instructions. The few
// intrinsics SIMDe 0.7 lacks are supplied below, in the file's anonymous namespace.
#pragma once

#if !defined(QWENEDGE_KERNELS_EMULATE_X86)

#include <immintrin.h>

#else

#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>

namespace {

inline simde__m512 qe_mm512_cvtepi32_ps(simde__m512i a) {
  simde__m512i_private ap = simde__m512i_to_private(a);
  simde__m512_private r;
  for (int i = 0; i < 16; ++i) r.f32[i] = static_cast<float>(ap.i32[i]);
  return simde__m512_from_private(r);
}

inline simde__m512i qe_mm512_cvtps_epi32(simde__m512 a) {
  simde__m512_private ap = simde__m512_to_private(a);
  simde__m512i_private r;
  // Round to nearest even as the hardware does under the default MXCSR; only finite inputs used.
  for (int i = 0; i < 16; ++i) r.i32[i] = static_cast<int32_t>(__builtin_nearbyintf(ap.f32[i]));
  return simde__m512i_from_private(r);
}

inline void qe_mm512_mask_storeu_ps(void* p, uint16_t k, simde__m512 a) {
  simde__m512_private ap = simde__m512_to_private(a);
  for (int i = 0; i < 16; ++i) {
    if ((k >> i) & 1) __builtin_memcpy(static_cast<float*>(p) + i, &ap.f32[i], 4);
  }
}

inline simde__m512 qe_mm512_maskz_loadu_ps(uint16_t k, const void* p) {
  simde__m512_private r;
  for (int i = 0; i < 16; ++i) {
    r.f32[i] = 0.0f;
    if ((k >> i) & 1) __builtin_memcpy(&r.f32[i], static_cast<const float*>(p) + i, 4);
  }
  return simde__m512_from_private(r);
}

inline simde__m512 qe_mm512_cvtph_ps(simde__m256i a) {
  simde__m256i_private ap = simde__m256i_to_private(a);
  simde__m512_private r;
  for (int i = 0; i < 2; ++i) r.m256[i] = simde_mm256_cvtph_ps(ap.m128i[i]);
  return simde__m512_from_private(r);
}

}  // namespace

#define _mm512_cvtph_ps qe_mm512_cvtph_ps
#define _mm512_cvtepi32_ps qe_mm512_cvtepi32_ps
#define _mm512_cvtps_epi32 qe_mm512_cvtps_epi32
#define _mm512_mask_storeu_ps qe_mm512_mask_storeu_ps
#define _mm512_maskz_loadu_ps qe_mm512_maskz_loadu_ps
#define _mm256_dpbusd_avx_epi32 _mm256_dpbusd_epi32

#endif
