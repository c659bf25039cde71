// Merge semantics are those of Hugging Face's BPE: repeatedly apply the lowest-ranked merge
// among adjacent pairs, the leftmost one first when a pair occurs more than once, until no
// adjacent pair has a merge. Short pieces (nearly all of them) use a compact array rescanned
// after each merge; long ones a heap over a linked list, so a megabyte-long word is not
// quadratic.
#include "tokenizer/bpe.hpp"

#include <algorithm>
#include <cstring>
#include <queue>

#include "qwenedge/error.hpp"
#include "tokenizer/byte_level.hpp"

namespace qwenedge::tokenizer::detail {
namespace {

constexpr size_t kSmallPiece = 128;

bool is_added(TokenType t) {
  return t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnused;
}

std::string quoted(std::string_view s) {
  std::string out = "'";
  out.append(s.substr(0, 64));
  if (s.size() > 64) out += "...";
  return out + "'";
}

}  // namespace

Bpe::Bpe(const Vocab& vocab) {
  const size_t n = vocab.tokens.size();
  if (n == 0) throw Error(ErrorCode::kBadModelFile, "tokenizer vocab: no tokens");
  if (vocab.types.size() != n) {
    throw Error(ErrorCode::kBadModelFile, "tokenizer vocab: " + std::to_string(vocab.types.size()) +
                                              " token types for " + std::to_string(n) + " tokens");
  }
  size_t total = 0;
  for (const std::string& t : vocab.tokens) total += t.size();
  if (n > static_cast<size_t>(INT32_MAX) || total > UINT32_MAX) {
    throw Error(ErrorCode::kBadModelFile, "tokenizer vocab: too many tokens or too much token text");
  }

  // Decoded tokens are never longer than their texts: write into the whole size, then trim.
  arena_.resize(total);
  offsets_.resize(n + 1);
  is_bpe_.resize(n);
  size_t pos = 0;
  for (size_t id = 0; id < n; ++id) {
    offsets_[id] = static_cast<uint32_t>(pos);
    const std::string& text = vocab.tokens[id];
    is_bpe_[id] = !is_added(vocab.types[id]);
    if (!is_bpe_[id]) {
      std::memcpy(arena_.data() + pos, text.data(), text.size());  // added tokens stand for their plain text
      pos += text.size();
      continue;
    }
    const int64_t written = byte_level_decode_to(text, arena_.data() + pos);
    if (written < 0) {
      throw Error(ErrorCode::kBadModelFile, "tokenizer vocab: token " + std::to_string(id) + " " + quoted(text) +
                                                " is not in the byte-level alphabet");
    }
    pos += static_cast<size_t>(written);
  }
  offsets_[n] = static_cast<uint32_t>(pos);
  arena_.resize(pos);

  // The tables are far larger than the caches, so loading is bound by memory latency: keys
  // are hashed a block at a time and their slots prefetched before they are used.
  constexpr size_t kBlock = 64;
  uint64_t hashes[kBlock];
  VocabIndex index(VocabKeyOf{&vocab});
  index.reserve(n);
  bool unique_tokens = true;
  for (size_t start = 0; start < n; start += kBlock) {
    const size_t end = std::min(n, start + kBlock);
    for (size_t id = start; id < end; ++id) {
      hashes[id - start] = index.hash(vocab.tokens[id]);
      index.prefetch_slot(hashes[id - start]);
    }
    for (size_t id = start; id < end; ++id) {
      if (is_bpe_[id] && !index.insert_hashed(static_cast<int32_t>(id), hashes[id - start])) {
        unique_tokens = false;  // a repeated token text keeps its first id
      }
    }
  }
  for (int b = 0; b < 256; ++b) {
    byte_ids_[static_cast<size_t>(b)] = index.find(byte_level_encode(std::string(1, static_cast<char>(b))));
    if (byte_ids_[static_cast<size_t>(b)] < 0) {
      throw Error(ErrorCode::kBadModelFile,
                  "tokenizer vocab: no token for byte " + std::to_string(b) + " (byte-level BPE needs all 256)");
    }
  }
  build_merges(vocab, index, unique_tokens);
}

int32_t Bpe::find(std::string_view bytes) const {
  std::call_once(raw_index_once_, [this] {
    raw_index_.reserve(is_bpe_.size());
    for (size_t id = 0; id < is_bpe_.size(); ++id) {
      if (is_bpe_[id]) raw_index_.insert(static_cast<int32_t>(id));
    }
  });
  return raw_index_.find(bytes);
}

void Bpe::build_merges(const Vocab& vocab, const VocabIndex& index, bool unique_tokens) {
  constexpr size_t kBlock = 64;
  const std::vector<std::string>& merges = vocab.merges;
  const size_t count = merges.size();
  merges_.reserve(count);
  std::string joined;
  size_t space[kBlock];
  uint64_t hl[kBlock], hr[kBlock];
  int32_t lid[kBlock], rid[kBlock];
  // Trained vocabularies usually give merge r the id first + r; that guess is checked, and a
  // lookup is made only when it fails. (With repeated token texts the lookup decides.)
  int32_t guess_base = -1;
  for (size_t start = 0; start < count; start += kBlock) {
    const size_t end = std::min(count, start + kBlock);
    for (size_t r = start; r < end; ++r) {
      const size_t k = r - start;
      const std::string_view m = merges[r];
      space[k] = m.find(' ');
      if (space[k] == std::string_view::npos || space[k] == 0 || space[k] + 1 >= m.size() ||
          m.find(' ', space[k] + 1) != std::string_view::npos) {
        throw merge_error(r, m, "expected two byte-level tokens separated by one space");
      }
      hl[k] = index.hash(m.substr(0, space[k]));
      hr[k] = index.hash(m.substr(space[k] + 1));
      index.prefetch_slot(hl[k]);
      index.prefetch_slot(hr[k]);
    }
    for (size_t k = 0; k < end - start; ++k) {
      for (const uint64_t h : {hl[k], hr[k]}) {
        const int32_t candidate = index.peek(h);
        if (candidate >= 0) prefetch(&vocab.tokens[static_cast<size_t>(candidate)]);
      }
    }
    for (size_t r = start; r < end; ++r) {
      const size_t k = r - start;
      const std::string_view m = merges[r];
      lid[k] = index.find_hashed(m.substr(0, space[k]), hl[k]);
      rid[k] = index.find_hashed(m.substr(space[k] + 1), hr[k]);
      if (lid[k] < 0 || rid[k] < 0) {
        const std::string_view missing = lid[k] < 0 ? m.substr(0, space[k]) : m.substr(space[k] + 1);
        throw merge_error(r, m, "token '" + std::string(missing) + "' is not in the vocab");
      }
      merges_.prefetch_slot(lid[k], rid[k]);
    }
    for (size_t r = start; r < end; ++r) {
      const size_t k = r - start;
      const std::string_view m = merges[r];
      const std::string_view left = m.substr(0, space[k]);
      const std::string_view right = m.substr(space[k] + 1);
      int32_t mid = -1;
      if (guess_base >= 0) {
        const int64_t guess = guess_base + static_cast<int64_t>(r);
        if (guess < size() && is_bpe_[static_cast<size_t>(guess)]) {
          const std::string_view g = vocab.tokens[static_cast<size_t>(guess)];
          if (g.size() == left.size() + right.size() && g.starts_with(left) && g.ends_with(right)) {
            mid = static_cast<int32_t>(guess);
          }
        }
      }
      if (mid < 0) {
        joined.assign(left);
        joined.append(right);
        mid = index.find(joined);
        if (mid < 0) throw merge_error(r, m, "merged token is not in the vocab");
        if (r == 0 && unique_tokens) guess_base = mid;
      }
      merges_.insert(lid[k], rid[k], {static_cast<uint32_t>(r), mid});  // a repeated pair keeps its first rank
    }
  }
}

Error Bpe::merge_error(size_t rank, std::string_view merge, const std::string& why) {
  return Error(ErrorCode::kBadModelFile,
               "tokenizer merges: merge " + std::to_string(rank) + " " + quoted(merge) + ": " + why);
}

void Bpe::encode_piece(std::string_view bytes, std::vector<int32_t>& out) const {
  if (bytes.size() == 1) {
    out.push_back(byte_ids_[static_cast<uint8_t>(bytes[0])]);
    return;
  }
  if (bytes.size() > kCacheMaxPieceBytes) {
    merge_piece(bytes, out);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(bytes);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t start = out.size();
  merge_piece(bytes, out);
  std::vector<int32_t> ids(out.begin() + static_cast<std::ptrdiff_t>(start), out.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() >= kCacheMaxEntries) cache_.clear();  // bounded memory on adversarial input
  cache_.emplace(std::string(bytes), std::move(ids));
}

void Bpe::merge_piece(std::string_view bytes, std::vector<int32_t>& out) const {
  if (bytes.size() <= kSmallPiece) {
    merge_small(bytes, out);
  } else {
    merge_heap(bytes, out);
  }
}

void Bpe::merge_small(std::string_view bytes, std::vector<int32_t>& out) const {
  const size_t n = bytes.size();
  if (n == 0) return;
  if (n > kSmallPiece) {
    merge_heap(bytes, out);
    return;
  }
  // ids[k] is the k-th symbol; pair k is (ids[k], ids[k + 1]) with its merge in pair[k].
  int32_t ids[kSmallPiece];
  PairMap::Merge pair[kSmallPiece];
  for (size_t k = 0; k < n; ++k) ids[k] = byte_ids_[static_cast<uint8_t>(bytes[k])];
  size_t m = n;
  for (size_t k = 0; k + 1 < m; ++k) pair[k] = merges_.find(ids[k], ids[k + 1]);
  while (m > 1) {
    size_t best = 0;
    for (size_t k = 1; k + 1 < m; ++k) {
      if (pair[k].rank < pair[best].rank) best = k;
    }
    if (pair[best].id < 0) break;
    ids[best] = pair[best].id;
    for (size_t k = best + 1; k + 1 < m; ++k) {
      ids[k] = ids[k + 1];
      pair[k] = pair[k + 1];
    }
    --m;
    if (best > 0) pair[best - 1] = merges_.find(ids[best - 1], ids[best]);
    if (best + 1 < m) pair[best] = merges_.find(ids[best], ids[best + 1]);
  }
  out.insert(out.end(), ids, ids + m);
}

void Bpe::merge_heap(std::string_view bytes, std::vector<int32_t>& out) const {
  const size_t n = bytes.size();
  if (n == 0) return;
  struct Sym {
    int32_t id;
    int64_t prev;  // -1: none
    int64_t next;  // -1: none
    bool alive;
  };
  struct Cand {
    uint32_t rank;
    size_t pos;
    int32_t left, right;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<Sym> sym(n);
  for (size_t k = 0; k < n; ++k) {
    sym[k] = {byte_ids_[static_cast<uint8_t>(bytes[k])], static_cast<int64_t>(k) - 1,
              k + 1 < n ? static_cast<int64_t>(k + 1) : -1, true};
  }
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto push = [&](size_t pos) {
    const int64_t next = sym[pos].next;
    if (next < 0) return;
    const PairMap::Merge mg = merges_.find(sym[pos].id, sym[static_cast<size_t>(next)].id);
    if (mg.id >= 0) heap.push({mg.rank, pos, sym[pos].id, sym[static_cast<size_t>(next)].id});
  };
  for (size_t k = 0; k + 1 < n; ++k) push(k);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    Sym& s = sym[c.pos];
    if (!s.alive || s.next < 0 || s.id != c.left) continue;
    Sym& r = sym[static_cast<size_t>(s.next)];
    if (r.id != c.right) continue;  // stale: the pair changed since it was queued
    s.id = merges_.find(c.left, c.right).id;
    r.alive = false;
    s.next = r.next;
    if (r.next >= 0) sym[static_cast<size_t>(r.next)].prev = static_cast<int64_t>(c.pos);
    if (s.prev >= 0) push(static_cast<size_t>(s.prev));
    push(c.pos);
  }
  for (int64_t k = 0; k >= 0; k = sym[static_cast<size_t>(k)].next) out.push_back(sym[static_cast<size_t>(k)].id);
}

}  // namespace qwenedge::tokenizer::detail
