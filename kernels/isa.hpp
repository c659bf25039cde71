// Instruction-set selection for the kernels: which SIMD paths this binary carries, which the CPU
// runs, and the one chosen at start-up (overridable with QWENEDGE_ISA).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace qwenedge::kernels {

// Every path the kernels can take. kScalar is always built and is the test oracle.
enum class Isa : uint8_t {
  kScalar,
  kAvx2,     // AVX2 + FMA + F16C, int8 dot products through vpmaddubsw/vpmaddwd
  kAvxVnni,  // AVX2 + AVX-VNNI (256-bit vpdpbusd)
  kAvx512,   // AVX-512 F/BW/VL + VNNI (512-bit vpdpbusd)
  kNeon,     // AArch64 NEON + dotprod (sdot)
};

// "scalar", "avx2", "avxvnni", "avx512", "neon".
std::string_view isa_name(Isa isa) noexcept;
// The inverse of isa_name; nullopt for an unknown name.
std::optional<Isa> parse_isa(std::string_view name) noexcept;

// True when this binary contains the ISA's kernels (e.g. no AVX-512 file in an Arm build).
bool isa_compiled(Isa isa) noexcept;
// True when the ISA is compiled in and this CPU and OS can run it (x86: CPUID + XGETBV for the
// YMM/ZMM register state; Arm: getauxval hwcaps).
bool isa_supported(Isa isa) noexcept;
// Every supported ISA, kScalar first, best last.
std::vector<Isa> available_isas();
// The fastest supported ISA.
Isa best_isa() noexcept;

// The ISA named by the environment variable QWENEDGE_ISA, or best_isa() when it is unset or empty.
// Throws std::invalid_argument for an unknown name and std::runtime_error for an ISA this binary or
// CPU cannot run; the message names the variable, the value and the choices.
Isa isa_from_env();

}  // namespace qwenedge::kernels
