// Merge semantics are those of Hugging Face's BPE: repeatedly apply the lowest-ranked merge
// among adjacent pairs, the leftmost one first when a pair occurs more than once, until no
// adjacent pair has a merge. Short pieces (nearly all of them) use a compact array rescanned
// after each merge; long ones a heap over a linked list, so a megabyte-long word is not
// quadratic.
#include "tokenizer/bpe.hpp"

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
  if (n > static_cast<size_t>(INT32_MAX)) throw Error(ErrorCode::kBadModelFile, "tokenizer vocab: too many tokens");

  size_t total = 0;
  for (const std::string& t : vocab.tokens) total += t.size();
  arena_.reserve(total);
  offsets_.reserve(n + 1);
  for (size_t id = 0; id < n; ++id) {
    offsets_.push_back(static_cast<uint32_t>(arena_.size()));
    const std::string& text = vocab.tokens[id];
    if (is_added(vocab.types[id])) {
      arena_ += text;  // added tokens are stored as their plain text
      continue;
    }
    std::optional<std::string> bytes = byte_level_decode(text);
    if (!bytes) {
      throw Error(ErrorCode::kBadModelFile, "tokenizer vocab: token " + std::to_string(id) + " " + quoted(text) +
                                                " is not in the byte-level alphabet");
    }
    arena_ += *bytes;
  }
  offsets_.push_back(static_cast<uint32_t>(arena_.size()));

  index_.reserve(n);
  for (size_t id = 0; id < n; ++id) {
    if (!is_added(vocab.types[id])) index_.insert(token_bytes(static_cast<int32_t>(id)), static_cast<int32_t>(id));
  }
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    byte_ids_[static_cast<size_t>(b)] = index_.find(std::string_view(&c, 1));
    if (byte_ids_[static_cast<size_t>(b)] < 0) {
      throw Error(ErrorCode::kBadModelFile,
                  "tokenizer vocab: no token for byte " + std::to_string(b) + " (byte-level BPE needs all 256)");
    }
  }

  merges_.reserve(vocab.merges.size());
  std::string left, right, joined;
  for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
    const std::string_view m = vocab.merges[rank];
    const size_t space = m.find(' ');
    auto bad = [&](const std::string& why) {
      return Error(ErrorCode::kBadModelFile, "tokenizer merges: merge " + std::to_string(rank) + " " + quoted(m) + ": " + why);
    };
    if (space == std::string_view::npos || space == 0 || space + 1 >= m.size() ||
        m.find(' ', space + 1) != std::string_view::npos) {
      throw bad("expected two byte-level tokens separated by one space");
    }
    std::optional<std::string> l = byte_level_decode(m.substr(0, space));
    std::optional<std::string> r = byte_level_decode(m.substr(space + 1));
    if (!l || !r) throw bad("not in the byte-level alphabet");
    const int32_t lid = index_.find(*l);
    const int32_t rid = index_.find(*r);
    if (lid < 0 || rid < 0) throw bad("token '" + std::string(m.substr(lid < 0 ? 0 : space + 1, lid < 0 ? space : m.npos)) + "' is not in the vocab");
    joined = *l + *r;
    const int32_t mid = index_.find(joined);
    if (mid < 0) throw bad("merged token is not in the vocab");
    merges_.insert(lid, rid, {static_cast<uint32_t>(rank), mid});  // a repeated pair keeps its first rank
  }
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
