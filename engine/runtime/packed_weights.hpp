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
#include <functional>

namespace qwenedge::kernels {
struct KernelTable;
}

namespace qwenedge::detail {

struct LoadedModel;

// Anonymous memory holding the packed matrices. Move-only; unmapped with the object.
class WeightBuffer {
 public:
  WeightBuffer() = default;
  explicit WeightBuffer(size_t bytes);  // throws std::bad_alloc when the mapping fails
  WeightBuffer(WeightBuffer&& o) noexcept;
  WeightBuffer& operator=(WeightBuffer&& o) noexcept;
  WeightBuffer(const WeightBuffer&) = delete;
  WeightBuffer& operator=(const WeightBuffer&) = delete;
  ~WeightBuffer();

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Gets the weights of `m` into the form the kernels `k` read best, on `threads` threads:
// - Q8_0 / Q4_0 matrices stored as GGUF rows are repacked into m.packed when the kernels read
//   the packed layout (k.reads_packed), unless QWENEDGE_REPACK=0 is set; if the memory cannot be
//   had they stay as they are (same results, slower kernels).
// - Matrices the file stores interleaved (Q8_0_R8 / Q4_0_R8) are read in place when the kernels
//   read that layout and every row range the forward pass asks for starts on a group of 8;
//   otherwise they are also (x86) or only (scalar, NEON) unpacked into GGUF rows in m.rows.
//   Throws qwenedge::Error when that memory cannot be had.
// The embedding table, when tied, ends up as the output head's view.
void pack_weights(LoadedModel& m, const kernels::KernelTable& k, int threads);

// Maps in now the file pages of every matrix the kernels will read from the file (after
// pack_weights), so the first forward pass takes no page faults: ~40k of them for a 0.5B model
// read in place, which is a third of the first prompt's time. Run beside other load work.
void populate_weights(const LoadedModel& m);

// The weight work of a model load: pack_weights, then populate_weights when `populate`, on a
// helper thread while `meanwhile` (the tokenizer build) runs on this one; the two touch
// different parts of `m`. Rethrows pack_weights' error once both are done.
void prepare_weights(LoadedModel& m, const kernels::KernelTable& k, int threads, bool populate,
                     const std::function<void()>& meanwhile);

}  // namespace qwenedge::detail
