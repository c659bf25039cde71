// The byte-level BPE model: token bytes, the byte -> token table, rank-ordered merges, and the
// merge loop with its cache. Works on raw bytes; byte-level token texts are converted at load.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "qwenedge/error.hpp"
#include "tokenizer/flat_map.hpp"
#include "tokenizer/vocab.hpp"

namespace qwenedge::tokenizer::detail {

class Bpe {
 public:
  // Throws qwenedge::Error(kBadModelFile) naming the token or merge at fault.
  explicit Bpe(const Vocab& vocab);
  Bpe(const Bpe&) = delete;  // raw_index_ refers back to this object
  Bpe& operator=(const Bpe&) = delete;

  // Appends the ids of one pre-tokenized piece.
  void encode_piece(std::string_view bytes, std::vector<int32_t>& out) const;
  // The same without the cache, choosing the algorithm by length (exposed for tests).
  void merge_piece(std::string_view bytes, std::vector<int32_t>& out) const;
  // The two merge algorithms; they give identical results (tests check it).
  void merge_small(std::string_view bytes, std::vector<int32_t>& out) const;
  void merge_heap(std::string_view bytes, std::vector<int32_t>& out) const;

  int32_t size() const { return static_cast<int32_t>(offsets_.size() - 1); }
  std::string_view token_bytes(int32_t id) const {
    return std::string_view(arena_).substr(offsets_[id], offsets_[id + 1] - offsets_[id]);
  }
  // Id of the BPE (non-added) token with these bytes, or -1. The first call builds an index.
  int32_t find(std::string_view bytes) const;

 private:
  // Loading looks tokens up by their vocab text (merges are written in it), through an index
  // that lives only while the vocab does.
  struct VocabKeyOf {
    const Vocab* vocab;
    std::string_view operator()(int32_t id) const { return vocab->tokens[static_cast<size_t>(id)]; }
  };
  using VocabIndex = StringIdMap<VocabKeyOf>;
  void build_merges(const Vocab& vocab, const VocabIndex& index, bool unique_tokens);
  static Error merge_error(size_t rank, std::string_view merge, const std::string& why);

  struct RawKeyOf {
    const Bpe* bpe;
    std::string_view operator()(int32_t id) const { return bpe->token_bytes(id); }
  };

  std::string arena_;                // every token's bytes, back to back
  std::vector<uint32_t> offsets_;    // id -> start in arena_; size() + 1 entries
  std::vector<uint8_t> is_bpe_;      // id -> 1 for BPE tokens, 0 for added/unused ones
  mutable std::once_flag raw_index_once_;
  mutable StringIdMap<RawKeyOf> raw_index_{RawKeyOf{this}};  // bytes -> id, built on first find()
  PairMap merges_;
  std::array<int32_t, 256> byte_ids_{};

  // Cache of piece -> ids. encode is const and may run on many threads at once.
  static constexpr size_t kCacheMaxEntries = 1 << 16;
  static constexpr size_t kCacheMaxPieceBytes = 64;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return static_cast<size_t>(hash_bytes(s.data(), s.size())); }
  };
  struct Eq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
  };
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, Hash, Eq> cache_;
};

}  // namespace qwenedge::tokenizer::detail
