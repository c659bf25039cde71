// Open-addressing hash tables for the two lookups BPE does millions of times: token bytes -> id
// and (left id, right id) -> merge. Built once at load, read-only afterwards (so safe to share
// between threads), linear probing at a load factor of at most 1/2.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

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
  uint64_t v = 0;
  if (n > 0) std::memcpy(&v, p, n);
  return mix64((h ^ v) * 0x94D049BB133111EBull);
}

inline size_t table_size_for(size_t n) {
  size_t cap = 16;
  while (cap < 2 * n) cap <<= 1;
  return cap;
}

// Byte string -> int32 id. Keys are views whose storage the owner keeps alive.
class StringIdMap {
 public:
  void reserve(size_t n) { slots_.assign(table_size_for(n), Slot{}); }

  // Inserts key -> id unless key is present; returns false when it was.
  bool insert(std::string_view key, int32_t id) {
    const uint64_t h = hash_bytes(key.data(), key.size());
    const size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.id < 0) {
        s = Slot{key, static_cast<uint32_t>(h), id};
        return true;
      }
      if (s.hash == static_cast<uint32_t>(h) && s.key == key) return false;
    }
  }

  int32_t find(std::string_view key) const {
    if (slots_.empty()) return -1;
    const uint64_t h = hash_bytes(key.data(), key.size());
    const size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.id < 0) return -1;
      if (s.hash == static_cast<uint32_t>(h) && s.key == key) return s.id;
    }
  }

 private:
  struct Slot {
    std::string_view key;
    uint32_t hash = 0;
    int32_t id = -1;
  };
  std::vector<Slot> slots_;
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
  std::vector<Slot> slots_;
};

}  // namespace qwenedge::tokenizer::detail
