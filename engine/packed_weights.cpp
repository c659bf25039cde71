#include "engine/packed_weights.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "engine/weights.hpp"
#include "kernels/kernels.hpp"

namespace qwenedge {

PackedBuffer::PackedBuffer(size_t bytes) : size_(bytes) {
  if (bytes == 0) return;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  // 2 MiB pages: a few hundred page faults instead of ~100k while packing, fewer TLB misses after.
  ::madvise(p, bytes, MADV_HUGEPAGE);
  data_ = static_cast<uint8_t*>(p);
}

PackedBuffer::PackedBuffer(PackedBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

PackedBuffer& PackedBuffer::operator=(PackedBuffer&& o) noexcept {
  if (this != &o) {
    if (data_) ::munmap(data_, size_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

PackedBuffer::~PackedBuffer() {
  if (data_) ::munmap(data_, size_);
}

void pack_weights(LoadedModel& m, const kernels::KernelTable& k, int threads) {
  if (!k.reads_packed) return;
  // QWENEDGE_REPACK=0 keeps the GGUF rows: the fastest load and no copy, for slower kernels.
  if (const char* e = std::getenv("QWENEDGE_REPACK"); e != nullptr && std::string_view(e) == "0") return;
  // Every matrix the forward pass multiplies by (a tied head once, through the output's view).
  std::vector<WeightView*> views;
  for (LayerWeights& l : m.weights.layers) {
    for (WeightView* v : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) views.push_back(v);
  }
  views.push_back(&m.weights.output);
  std::erase_if(views, [](const WeightView* v) { return kernels::packed_matrix_bytes(as_matrix(*v)) == 0; });
  if (views.empty()) return;

  constexpr size_t kAlign = 64;
  std::vector<size_t> offsets;
  size_t total = 0;
  for (const WeightView* v : views) {
    offsets.push_back(total);
    total += (static_cast<size_t>(kernels::packed_matrix_bytes(as_matrix(*v))) + kAlign - 1) / kAlign * kAlign;
  }
  PackedBuffer buffer;
  try {
    buffer = PackedBuffer(total);
  } catch (const std::bad_alloc&) {
    return;  // the GGUF rows serve as they are
  }

  // Work items of about 1 MiB of rows, whole groups of kPackedRows, handed out in file order so
  // that the threads stream through the file together.
  struct Item {
    size_t view;
    int64_t row_begin, row_end;
  };
  std::vector<Item> items;
  for (size_t i = 0; i < views.size(); ++i) {
    const WeightView& v = *views[i];
    const int64_t step = std::max<int64_t>(1, (int64_t{1} << 20) / static_cast<int64_t>(v.row_bytes) / kernels::kPackedRows) *
                         kernels::kPackedRows;
    for (int64_t r = 0; r < v.rows; r += step) items.push_back({i, r, std::min(v.rows, r + step)});
  }
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < items.size(); i = next++) {
      const Item& it = items[i];
      const WeightView& v = *views[it.view];
      kernels::pack_matrix(as_matrix(v), it.row_begin, it.row_end, buffer.data() + offsets[it.view]);
      // The copy is made: let these file pages go (whole pages only; the edges go below).
      m.file.evict(v.row(it.row_begin), static_cast<uint64_t>(it.row_end - it.row_begin) * v.row_bytes);
    }
  };
  {
    std::vector<std::jthread> helpers;
    try {
      for (int t = 1; t < std::max(1, threads); ++t) helpers.emplace_back(work);
    } catch (const std::system_error&) {
      // No more threads to be had: the ones running (and this one) share the rest.
    }
    work();
  }
  for (size_t i = 0; i < views.size(); ++i) {
    WeightView& v = *views[i];
    m.file.evict(v.data, static_cast<uint64_t>(v.rows) * v.row_bytes);
    v.packed = buffer.data() + offsets[i];
  }
  // A tied head is the embedding table: its lookups read the packed rows too (unpack_row), so the
  // file's pages of the table are not mapped back in token by token.
  WeightView& e = m.weights.token_embd;
  if (e.data == m.weights.output.data) e.packed = m.weights.output.packed;
  m.packed = std::move(buffer);
}

}  // namespace qwenedge
