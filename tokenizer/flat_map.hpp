// Open-addressing hash tables for the two lookups BPE does millions of times: token bytes -> id
// and (left id, right id) -> merge. Built once at load, read-only afterwards (so safe to share
// between threads), linear probing at a load factor of at most 1/2.
#pragma once

#include <cstdint>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace qwenedge::tokenizer::detail {

inline uint64_t mix64(uint64_t h) {
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  h ^= h >> 32;
  return h;
}

inline uint64_t hash_bytes(const char* p, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xFF51AFD7ED558CCDull);
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  // The last 1-7 bytes without a variable-length copy (GCC turns that into a byte loop, a third
  // of the merge table's build): two overlapping 4-byte reads, or the first, middle and last
  // byte; either covers every byte of the tail, and the length is already in h.
  uint64_t v = 0;
  if (n >= 4) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + n - 4, 4);
    v = lo | (static_cast<uint64_t>(hi) << 32);
  } else if (n > 0) {
    const auto* u = reinterpret_cast<const unsigned char*>(p);
    v = u[0] | (static_cast<uint64_t>(u[n / 2]) << 8) | (static_cast<uint64_t>(u[n - 1]) << 16);
  }
  return mix64((h ^ v) * 0x94D049BB133111EBull);
}

// Power-of-two table size keeping the load factor at or below 0.6 (linear probing stays short).
inline void prefetch(const void* p) {
#if defined(__GNUC__)
  __builtin_prefetch(p);
#else
  (void)p;
#endif
}

// A table's slots. Lookups land on random slots of a few MiB, so on Linux the memory is
// 2 MiB-aligned and marked for transparent huge pages: one TLB entry then covers a megabyte's
// worth of lookups instead of 4 KiB (it matters most under virtualization).
template <typename Slot>
class SlotArray {
 public:
  SlotArray() = default;
  void assign(size_t n, const Slot& value) {
    data_.reset(static_cast<Slot*>(allocate(n * sizeof(Slot))));
    size_ = n;
    for (size_t i = 0; i < n; ++i) new (&data_[i]) Slot(value);
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  Slot& operator[](size_t i) { return data_[i]; }
  const Slot& operator[](size_t i) const { return data_[i]; }

 private:
  static constexpr size_t kHuge = size_t{2} << 20;
  // Big tables get fresh pages straight from the kernel (reused heap pages would already be
  // mapped small), aligned to 2 MiB, with a header in front recording the mapping.
  struct Header {
    void* base;
    size_t length;
  };
  static void* allocate(size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (bytes >= kHuge) {
      const size_t length = bytes + 2 * kHuge;
      void* base = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (base == MAP_FAILED) throw std::bad_alloc();
      auto addr = reinterpret_cast<uintptr_t>(base);
      const uintptr_t data = (addr + sizeof(Header) + kHuge - 1) / kHuge * kHuge;
      madvise(reinterpret_cast<void*>(data), bytes, MADV_HUGEPAGE);
      new (reinterpret_cast<Header*>(data) - 1) Header{base, length};
      return reinterpret_cast<void*>(data);
    }
#endif
    void* p = std::malloc(bytes + sizeof(Header) + alignof(Slot));
    if (p == nullptr) throw std::bad_alloc();
    auto addr = reinterpret_cast<uintptr_t>(p) + sizeof(Header);
    addr = (addr + alignof(Slot) - 1) / alignof(Slot) * alignof(Slot);
    new (reinterpret_cast<Header*>(addr) - 1) Header{p, 0};
    return reinterpret_cast<void*>(addr);
  }
  struct Free {
    void operator()(Slot* p) const {  // Slot is trivially destructible
      const Header h = *(reinterpret_cast<Header*>(p) - 1);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
      if (h.length != 0) {
        munmap(h.base, h.length);
        return;
      }
#endif
      std::free(h.base);
    }
  };
  std::unique_ptr<Slot[], Free> data_;
  size_t size_ = 0;
};

inline size_t table_size_for(size_t n) {
  size_t cap = 16;
  while (cap * 3 < n * 5) cap <<= 1;
  return cap;
}

// Byte string -> int32 id. The keys live elsewhere (the token arena); a slot holds only the
// id and 32 bits of the hash, 8 bytes, so the 150k-token table stays small and cache-friendly.
// `key_of(id)` must return the key stored for id.
template <typename KeyOf>
class StringIdMap {
 public:
  explicit StringIdMap(KeyOf key_of) : key_of_(key_of) {}

  void reserve(size_t n) { slots_.assign(table_size_for(n), Slot{}); }

  static uint64_t hash(std::string_view key) { return hash_bytes(key.data(), key.size()); }
  // Loading many keys is bound by cache misses: callers hash a batch, prefetch, then look up.
  void prefetch_slot(uint64_t h) const { prefetch(&slots_[h & (slots_.size() - 1)]); }
  // The id in the key's home slot (-1 when empty): what a lookup will most likely compare
  // against, so that its key can be prefetched too.
  int32_t peek(uint64_t h) const { return slots_[h & (slots_.size() - 1)].id; }

  // Inserts id under key_of(id) unless the key is present; returns false when it was.
  bool insert(int32_t id) { return insert_hashed(id, hash(key_of_(id))); }
  bool insert_hashed(int32_t id, uint64_t h) {
    const std::string_view key = key_of_(id);
    const size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.id < 0) {
        s = Slot{static_cast<uint32_t>(h >> 32), id};
        return true;
      }
      if (s.hash == static_cast<uint32_t>(h >> 32) && key_of_(s.id) == key) return false;
    }
  }

  int32_t find(std::string_view key) const { return slots_.empty() ? -1 : find_hashed(key, hash(key)); }
  int32_t find_hashed(std::string_view key, uint64_t h) const {
    const size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.id < 0) return -1;
      if (s.hash == static_cast<uint32_t>(h >> 32) && key_of_(s.id) == key) return s.id;
    }
  }

 private:
  struct Slot {
    uint32_t hash = 0;
    int32_t id = -1;
  };
  KeyOf key_of_;
  SlotArray<Slot> slots_;
};

// (left, right) token pair -> (rank, merged id).
class PairMap {
 public:
  struct Merge {
    uint32_t rank;
    int32_t id;
  };
  static constexpr Merge kNone{UINT32_MAX, -1};

  void reserve(size_t n) { slots_.assign(table_size_for(n), Slot{}); }

  static uint64_t key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }

  void prefetch_slot(int32_t left, int32_t right) const {
    prefetch(&slots_[mix64(key(left, right)) & (slots_.size() - 1)]);
  }

  bool insert(int32_t left, int32_t right, Merge m) {
    const uint64_t k = key(left, right);
    const size_t mask = slots_.size() - 1;
    for (size_t i = mix64(k) & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.merge.id < 0) {
        s = Slot{k, m};
        return true;
      }
      if (s.key == k) return false;
    }
  }

  Merge find(int32_t left, int32_t right) const {
    const uint64_t k = key(left, right);
    const size_t mask = slots_.size() - 1;
    for (size_t i = mix64(k) & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.merge.id < 0) return kNone;
      if (s.key == k) return s.merge;
    }
  }

 private:
  struct Slot {
    uint64_t key = 0;
    Merge merge = kNone;
  };
  SlotArray<Slot> slots_;
};

}  // namespace qwenedge::tokenizer::detail
