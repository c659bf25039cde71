// A conversation's attention memory: the keys and values of every position seen so far, in fp16.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/format/model_config.hpp"

namespace qwenedge::detail {

class KvCache {
 public:
  KvCache(const ModelConfig& c, int64_t capacity)
      : capacity_(capacity), kv_dim_(c.kv_dim()), layer_stride_(capacity * c.kv_dim()),
        k_(static_cast<size_t>(c.n_layers * capacity * c.kv_dim())),
        v_(static_cast<size_t>(c.n_layers * capacity * c.kv_dim())) {}

  int64_t capacity() const { return capacity_; }
  int64_t size() const { return n_; }           // positions filled
  void resize(int64_t n) { n_ = n; }            // n <= capacity; shrinking forgets positions >= n
  int64_t bytes() const { return static_cast<int64_t>((k_.size() + v_.size()) * sizeof(uint16_t)); }

  // [Hkv·Dh] fp16 key / value of `pos` in `layer`.
  uint16_t* k(int64_t layer, int64_t pos) { return &k_[static_cast<size_t>(layer * layer_stride_ + pos * kv_dim_)]; }
  uint16_t* v(int64_t layer, int64_t pos) { return &v_[static_cast<size_t>(layer * layer_stride_ + pos * kv_dim_)]; }
  const uint16_t* k(int64_t layer, int64_t pos) const { return &k_[static_cast<size_t>(layer * layer_stride_ + pos * kv_dim_)]; }
  const uint16_t* v(int64_t layer, int64_t pos) const { return &v_[static_cast<size_t>(layer * layer_stride_ + pos * kv_dim_)]; }

 private:
  int64_t capacity_;
  int64_t kv_dim_;
  int64_t layer_stride_;
  int64_t n_ = 0;
  std::vector<uint16_t> k_;  // [L, capacity, Hkv·Dh]
  std::vector<uint16_t> v_;  // [L, capacity, Hkv·Dh]
};

}  // namespace qwenedge::detail
