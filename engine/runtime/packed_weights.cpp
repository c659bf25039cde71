#include "engine/runtime/packed_weights.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "engine/runtime/weights.hpp"
#include "kernels/kernels.hpp"
#include "qwenedge/error.hpp"

namespace qwenedge::detail {

WeightBuffer::WeightBuffer(size_t bytes) : size_(bytes) {
  if (bytes == 0) return;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  // 2 MiB pages: a few hundred page faults instead of ~100k while packing, fewer TLB misses after.
  ::madvise(p, bytes, MADV_HUGEPAGE);
  data_ = static_cast<uint8_t*>(p);
}

WeightBuffer::WeightBuffer(WeightBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

WeightBuffer& WeightBuffer::operator=(WeightBuffer&& o) noexcept {
  if (this != &o) {
    if (data_) ::munmap(data_, size_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

WeightBuffer::~WeightBuffer() {
  if (data_) ::munmap(data_, size_);
}

namespace {

// Every matrix the forward pass multiplies by (a tied head once, through the output's view).
// An untied embedding table is not one: it is only looked up, a row per token, in either layout.
std::vector<WeightView*> matrices(LoadedModel& m) {
  std::vector<WeightView*> views;
  for (LayerWeights& l : m.weights.layers) {
    for (WeightView* v : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) views.push_back(v);
  }
  views.push_back(&m.weights.output);
  return views;
}

// The x86 kernels read a packed matrix only for row ranges that start on a group; the forward
// pass asks for per-head ranges of Q/K/V and, when F is not whole blocks, single FFN rows.
bool row_ranges_fit_groups(const ModelConfig& c) {
  return c.head_dim % kernels::kPackedRows == 0 && c.ffn % kernels::kBlockSize == 0;
}

// Converts each view's matrix into `buffer` on `threads` threads, in work items of about 1 MiB
// of whole groups handed out in file order so that the threads stream through the file
// together; `convert(view, row_begin, row_end, dst)` writes one item into the view's share.
// Returns each view's offset in the buffer.
template <typename Convert>
std::vector<size_t> convert_all(const std::vector<WeightView*>& views, int threads,
                                 const std::vector<int64_t>& bytes, WeightBuffer& buffer, Convert convert) {
  constexpr size_t kAlign = 64;
  std::vector<size_t> offsets;
  size_t total = 0;
  for (int64_t b : bytes) {
    offsets.push_back(total);
    total += (static_cast<size_t>(b) + kAlign - 1) / kAlign * kAlign;
  }
  buffer = WeightBuffer(total);
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
      convert(*views[it.view], it.row_begin, it.row_end, buffer.data() + offsets[it.view]);
    }
  };
  std::vector<std::jthread> helpers;
  try {
    for (int t = 1; t < std::max(1, threads); ++t) helpers.emplace_back(work);
  } catch (const std::system_error&) {
    // No more threads to be had: the ones running (and this one) share the rest.
  }
  work();
  return offsets;
}

}  // namespace

void pack_weights(LoadedModel& m, const kernels::KernelTable& k, int threads) {
  std::vector<WeightView*> views = matrices(m);
  // A file stored packed: kept as it is where the kernels read it, else unpacked to GGUF rows
  // (the same copy in reverse). Without the rows the model cannot run: failing here throws.
  std::vector<WeightView*> unpack;
  for (WeightView* v : views) {
    if (v->data == nullptr && !(k.reads_packed && row_ranges_fit_groups(m.config))) unpack.push_back(v);
  }
  if (!unpack.empty()) {
    std::vector<int64_t> bytes;
    for (const WeightView* v : unpack) bytes.push_back(v->rows * static_cast<int64_t>(v->row_bytes));
    WeightBuffer rows;
    std::vector<size_t> offsets;
    try {
      offsets = convert_all(unpack, threads, bytes, rows, [&](const WeightView& v, int64_t r0, int64_t r1, uint8_t* dst) {
        kernels::unpack_matrix(as_matrix(v), r0, r1, dst + static_cast<uint64_t>(r0) * v.row_bytes);
      });
    } catch (const std::bad_alloc&) {
      throw Error(ErrorCode::kIo, m.file.path() + ": no memory for the " + std::to_string(unpack.size()) +
                                      " interleaved matrices unpacked for the " + std::string(kernels::isa_name(k.isa)) + " kernels");
    }
    for (size_t i = 0; i < unpack.size(); ++i) {
      // Kernels that read the packed layout still do so where a range starts on a group.
      WeightView& v = *unpack[i];
      if (!k.reads_packed) {
        m.file.evict(v.packed, static_cast<uint64_t>(kernels::packed_matrix_bytes(as_matrix(v))));
        v.packed = nullptr;
      }
      v.data = rows.data() + offsets[i];
    }
    m.rows = std::move(rows);
  }

  // GGUF rows repacked for kernels that read the packed layout.
  // QWENEDGE_REPACK=0 keeps the GGUF rows: the fastest load and no copy, for slower kernels.
  const char* env = std::getenv("QWENEDGE_REPACK");
  if (k.reads_packed && !(env != nullptr && std::string_view(env) == "0")) {
    std::vector<WeightView*> pack;
    std::vector<int64_t> bytes;
    for (WeightView* v : views) {
      const int64_t b = v->packed == nullptr ? kernels::packed_matrix_bytes(as_matrix(*v)) : 0;
      if (b > 0) {
        pack.push_back(v);
        bytes.push_back(b);
      }
    }
    WeightBuffer buffer;
    std::vector<size_t> offsets;
    try {
      if (!pack.empty()) {
        offsets = convert_all(pack, threads, bytes, buffer, [&](const WeightView& v, int64_t r0, int64_t r1, uint8_t* dst) {
          kernels::pack_matrix(as_matrix(v), r0, r1, dst);
          // The copy is made: let these file pages go (whole pages only; the edges go below).
          m.file.evict(v.row(r0), static_cast<uint64_t>(r1 - r0) * v.row_bytes);
        });
      }
    } catch (const std::bad_alloc&) {
      pack.clear();  // the GGUF rows serve as they are
    }
    for (size_t i = 0; i < pack.size(); ++i) {
      WeightView& v = *pack[i];
      m.file.evict(v.data, static_cast<uint64_t>(v.rows) * v.row_bytes);
      v.packed = buffer.data() + offsets[i];
    }
    if (!pack.empty()) m.packed = std::move(buffer);
  }
  // A tied head is the embedding table: its lookups read whichever copy the head has, so the
  // file's pages of the table are not mapped back in token by token.
  if (m.config.tied_embeddings) m.weights.token_embd = m.weights.output;
}

void populate_weights(const LoadedModel& m) {
  auto populate = [&](const WeightView& v) {
    if (v.packed != nullptr) {
      m.file.populate(v.packed, static_cast<uint64_t>(kernels::packed_matrix_bytes(as_matrix(v))));
    } else {
      m.file.populate(v.data, static_cast<uint64_t>(v.rows) * v.row_bytes);
    }
  };
  for (const LayerWeights& l : m.weights.layers) {
    for (const WeightView* v : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) populate(*v);
  }
  populate(m.weights.output);
}

void prepare_weights(LoadedModel& m, const kernels::KernelTable& k, int threads, bool populate,
                     const std::function<void()>& meanwhile) {
  std::exception_ptr error;
  auto prepare = [&]() noexcept {
    try {
      pack_weights(m, k, threads);
      if (populate) populate_weights(m);
    } catch (...) {
      error = std::current_exception();
    }
  };
  {
    std::jthread helper;
    try {
      helper = std::jthread(prepare);
    } catch (const std::system_error&) {
      prepare();
    }
    meanwhile();
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace qwenedge::detail
