// Q8_0 / Q4_0 weight matrices repacked once at load into the row-interleaved layout the x86
// kernels read (kernels/pack.hpp): every group of 8 rows one contiguous stream, block scales in
// one load, no per-call packing in prefill or batched decode and no horizontal sums in decode.
//
// Memory: the packed copy is exactly as large as the GGUF matrices. As each share is packed, the
// file pages it came from are dropped from the process (they stay in the page cache, reclaimable),
// so resident memory peaks at about the model size, not twice it. A tied embedding table is read
// from the packed head; an untied one is looked up in the file, a few rows per token.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qwenedge {

struct LoadedModel;
namespace kernels {
struct KernelTable;
}

// Anonymous memory holding the packed matrices. Move-only; unmapped with the object.
class PackedBuffer {
 public:
  PackedBuffer() = default;
  explicit PackedBuffer(size_t bytes);  // throws std::bad_alloc when the mapping fails
  PackedBuffer(PackedBuffer&& o) noexcept;
  PackedBuffer& operator=(PackedBuffer&& o) noexcept;
  PackedBuffer(const PackedBuffer&) = delete;
  PackedBuffer& operator=(const PackedBuffer&) = delete;
  ~PackedBuffer();

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Packs every block-quantized projection and the output head of `m` on `threads` threads when
// the kernels read packed weights (k.reads_packed), points their views at the packed copy and
// stores it in m.packed. Otherwise, when the memory cannot be had or QWENEDGE_REPACK=0 is set,
// leaves m as it is: the kernels then read the GGUF rows, with the same results.
void pack_weights(LoadedModel& m, const kernels::KernelTable& k, int threads);

}  // namespace qwenedge
