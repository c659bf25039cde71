// ISA detection, the QWENEDGE_ISA override and the per-ISA kernel tables. Baseline code.
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "kernels/isa_kernels.hpp"
#include "kernels/kernels.hpp"

#if defined(QWENEDGE_KERNELS_X86)
#include <cpuid.h>
#endif
#if defined(QWENEDGE_KERNELS_NEON)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace qwenedge::kernels {
namespace {

constexpr const char* kIsaChoices = "scalar|avx2|avxvnni|avx512|neon";

// reads_packed: the x86 tables (their kernels take Matrix::packed); scalar and NEON read GGUF rows.
#define QWENEDGE_KERNEL_TABLE(isa_value, ns)                                                   \
  KernelTable {                                                                                \
    isa_value, isa_value != Isa::kScalar && isa_value != Isa::kNeon, ns::quantize_activations, \
        ns::matmul, ns::rmsnorm, ns::silu_mul, ns::softmax, ns::fp32_to_fp16_row,              \
        ns::fp16_to_fp32_row, ns::dot_f16, ns::axpy_f16, ns::attend_f16                         \
  }

const KernelTable kScalarTable = QWENEDGE_KERNEL_TABLE(Isa::kScalar, scalar);
#if defined(QWENEDGE_KERNELS_X86)
const KernelTable kAvx2Table = QWENEDGE_KERNEL_TABLE(Isa::kAvx2, avx2);
const KernelTable kAvxVnniTable = QWENEDGE_KERNEL_TABLE(Isa::kAvxVnni, avxvnni);
const KernelTable kAvx512Table = QWENEDGE_KERNEL_TABLE(Isa::kAvx512, avx512);
#endif
#if defined(QWENEDGE_KERNELS_NEON)
const KernelTable kNeonTable = QWENEDGE_KERNEL_TABLE(Isa::kNeon, neon);
#endif

#if defined(QWENEDGE_KERNELS_X86)
struct X86Features {
  bool avx2 = false;     // AVX2 + FMA + F16C with the OS saving YMM state
  bool avxvnni = false;  // and AVX-VNNI
  bool avx512 = false;   // AVX-512 F/BW/VL/VNNI with the OS saving ZMM state
};

uint64_t read_xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

X86Features detect_x86() {
  X86Features f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1,
             f16c = (c >> 29) & 1;
  if (!osxsave || !avx) return f;
  const uint64_t xcr0 = read_xcr0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;
  const bool zmm_state = (xcr0 & 0xe6) == 0xe6;  // SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  const bool avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1,
             avx512vl = (b >> 31) & 1, avx512vnni = (c >> 11) & 1;
  unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
  const bool leaf71 = a >= 1 && __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1);
  const bool avxvnni = leaf71 && ((a1 >> 4) & 1);
  f.avx2 = ymm_state && avx2 && fma && f16c;
  f.avxvnni = f.avx2 && avxvnni;
  f.avx512 = f.avx2 && zmm_state && avx512f && avx512bw && avx512vl && avx512vnni;
#if defined(QWENEDGE_KERNELS_EMULATE_X86)
  // Test builds whose AVX-512 / AVX-VNNI files run on emulated intrinsics (SIMDe) need only AVX2.
  f.avxvnni = f.avx512 = f.avx2;
#endif
  return f;
}

const X86Features& x86_features() {
  static const X86Features f = detect_x86();
  return f;
}
#endif

#if defined(QWENEDGE_KERNELS_NEON)
bool neon_dotprod() {
  static const bool ok = (getauxval(AT_HWCAP) & HWCAP_ASIMD) && (getauxval(AT_HWCAP) & HWCAP_ASIMDDP);
  return ok;
}
#endif

}  // namespace

std::string_view isa_name(Isa isa) noexcept {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvxVnni: return "avxvnni";
    case Isa::kAvx512: return "avx512";
    case Isa::kNeon: return "neon";
  }
  return "?";
}

std::optional<Isa> parse_isa(std::string_view name) noexcept {
  for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvxVnni, Isa::kAvx512, Isa::kNeon}) {
    if (isa_name(i) == name) return i;
  }
  return std::nullopt;
}

bool isa_compiled(Isa isa) noexcept {
  switch (isa) {
    case Isa::kScalar: return true;
#if defined(QWENEDGE_KERNELS_X86)
    case Isa::kAvx2:
    case Isa::kAvxVnni:
    case Isa::kAvx512: return true;
#endif
#if defined(QWENEDGE_KERNELS_NEON)
    case Isa::kNeon: return true;
#endif
    default: return false;
  }
}

bool isa_supported(Isa isa) noexcept {
  if (!isa_compiled(isa)) return false;
  switch (isa) {
    case Isa::kScalar: return true;
#if defined(QWENEDGE_KERNELS_X86)
    case Isa::kAvx2: return x86_features().avx2;
    case Isa::kAvxVnni: return x86_features().avxvnni;
    case Isa::kAvx512: return x86_features().avx512;
#endif
#if defined(QWENEDGE_KERNELS_NEON)
    case Isa::kNeon: return neon_dotprod();
#endif
    default: return false;
  }
}

std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  for (Isa i : {Isa::kScalar, Isa::kNeon, Isa::kAvx2, Isa::kAvxVnni, Isa::kAvx512}) {
    if (isa_supported(i)) out.push_back(i);
  }
  return out;
}

Isa best_isa() noexcept {
  for (Isa i : {Isa::kAvx512, Isa::kAvxVnni, Isa::kAvx2, Isa::kNeon}) {
    if (isa_supported(i)) return i;
  }
  return Isa::kScalar;
}

Isa isa_from_env() {
  const char* env = std::getenv("QWENEDGE_ISA");
  if (env == nullptr || *env == '\0') return best_isa();
  const std::optional<Isa> isa = parse_isa(env);
  // Messages are built with append(): GCC 12 warns falsely (-Wrestrict) on chains of operator+.
  std::string msg = "QWENEDGE_ISA=";
  msg.append(env);
  if (!isa) {
    msg.append(": unknown ISA (expected ").append(kIsaChoices).append(")");
    throw std::invalid_argument(msg);
  }
  if (!isa_supported(*isa)) {
    msg.append(isa_compiled(*isa) ? ": not supported by this CPU" : ": not built into this binary");
    msg.append(" (available:");
    for (Isa i : available_isas()) msg.append(" ").append(isa_name(i));
    msg.append(")");
    throw std::runtime_error(msg);
  }
  return *isa;
}

const KernelTable& kernels_for(Isa isa) {
  if (!isa_supported(isa)) {
    std::string msg = "kernels_for: ISA ";
    msg.append(isa_name(isa)).append(" is not supported on this machine");
    throw std::runtime_error(msg);
  }
  switch (isa) {
#if defined(QWENEDGE_KERNELS_X86)
    case Isa::kAvx2: return kAvx2Table;
    case Isa::kAvxVnni: return kAvxVnniTable;
    case Isa::kAvx512: return kAvx512Table;
#endif
#if defined(QWENEDGE_KERNELS_NEON)
    case Isa::kNeon: return kNeonTable;
#endif
    default: return kScalarTable;
  }
}

const KernelTable& active_kernels() {
  // A throwing initializer leaves the static uninitialized, so a later call tries again.
  static const KernelTable& table = kernels_for(isa_from_env());
  return table;
}

}  // namespace qwenedge::kernels
