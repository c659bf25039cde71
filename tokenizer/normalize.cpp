// NFC in three steps over a "dirty" stretch of text: full canonical decomposition (tables and
// the Hangul algorithm), canonical ordering of combining marks, then canonical composition.
// Text is scanned for stable boundaries (a code point with combining class 0 whose NFC quick
// check is Yes: nothing before it can reorder or compose with it), and only the stretches
// between boundaries that contain a flagged code point are rewritten; the rest is copied.
#include "tokenizer/normalize.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "tokenizer/unicode.hpp"

namespace qwenedge::tokenizer {
namespace detail {

namespace {

// Hangul syllable arithmetic (Unicode 15, section 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr uint32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

void decompose_into(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  const uint32_t* end = ucd::kDecompCps + ucd::kDecompCount;
  const uint32_t* it = std::lower_bound(ucd::kDecompCps, end, cp);
  if (it == end || *it != cp) {
    out.push_back(cp);
    return;
  }
  const size_t i = static_cast<size_t>(it - ucd::kDecompCps);
  out.insert(out.end(), ucd::kDecompPool + ucd::kDecompOffsets[i], ucd::kDecompPool + ucd::kDecompOffsets[i + 1]);
}

// The primary composite of (first, second), or 0 when there is none.
uint32_t compose_pair(uint32_t first, uint32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase && second < kVBase + kVCount) {
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  }
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 && second > kTBase &&
      second < kTBase + kTCount) {
    return first + (second - kTBase);
  }
  if (first >= kInvalidByteBase || second >= kInvalidByteBase) return 0;
  const uint64_t key = (static_cast<uint64_t>(first) << 21) | second;
  const ucd::Composition* end = ucd::kCompositions + ucd::kCompositionCount;
  const ucd::Composition* it =
      std::lower_bound(ucd::kCompositions, end, key, [](const ucd::Composition& c, uint64_t k) { return c.key < k; });
  return (it != end && it->key == key) ? it->composite : 0;
}

// Rewrites text[0..n) into NFC, appending to out.
void normalize_stretch(const unsigned char* text, size_t n, std::string& out) {
  std::vector<uint32_t> cps;
  cps.reserve(n + 8);
  for (size_t i = 0; i < n;) {
    const DecodedCp d = decode_utf8(text + i, n - i);
    decompose_into(d.cp, cps);
    i += d.len;
  }

  // Canonical ordering: a stable sort of every run of non-starters by combining class.
  std::vector<uint8_t> classes(cps.size());
  for (size_t i = 0; i < cps.size(); ++i) classes[i] = combining_class(cps[i]);
  for (size_t i = 0; i < cps.size();) {
    if (classes[i] == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && classes[j] != 0) ++j;
    // Insertion sort: runs are short and it is stable.
    for (size_t a = i + 1; a < j; ++a) {
      const uint32_t cp = cps[a];
      const uint8_t cc = classes[a];
      size_t b = a;
      while (b > i && classes[b - 1] > cc) {
        cps[b] = cps[b - 1];
        classes[b] = classes[b - 1];
        --b;
      }
      cps[b] = cp;
      classes[b] = cc;
    }
    i = j;
  }

  // Canonical composition. A character composes with the last starter unless blocked: some
  // character kept between them has a combining class of 0 or >= its own.
  size_t kept = 0;
  size_t starter = SIZE_MAX;
  bool between = false;  // a character was kept after the starter
  uint8_t last_class = 0;
  for (size_t i = 0; i < cps.size(); ++i) {
    const uint32_t cp = cps[i];
    const uint8_t cc = classes[i];
    if (starter != SIZE_MAX && (!between || last_class < cc)) {
      const uint32_t composite = compose_pair(cps[starter], cp);
      if (composite != 0) {
        cps[starter] = composite;
        continue;
      }
    }
    if (cc == 0) {
      starter = kept;
      between = false;
    } else {
      between = true;
      last_class = cc;
    }
    cps[kept++] = cp;
  }
  for (size_t i = 0; i < kept; ++i) append_utf8(out, cps[i]);
}

constexpr uint8_t kNeedsWork = ucd::kFlagNfcQc | ucd::kFlagCcc;

}  // namespace

uint8_t combining_class(uint32_t cp) {
  if ((cp_flags(cp) & ucd::kFlagCcc) == 0) return 0;
  const ucd::CccRange* end = ucd::kCccRanges + ucd::kCccRangeCount;
  const ucd::CccRange* it =
      std::upper_bound(ucd::kCccRanges, end, cp, [](uint32_t c, const ucd::CccRange& r) { return c < r.first; });
  if (it == ucd::kCccRanges) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

}  // namespace detail

void normalize_nfc_append(std::string_view text, std::string& out) {
  using namespace detail;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t copied = 0;     // text[0..copied) is already in out
  size_t last_safe = 0;  // offset of the last stable boundary
  bool dirty = false;    // text[last_safe..i) holds a flagged code point
  for (size_t i = 0; i < n;) {
    if (p[i] < 0x80) {  // ASCII: always a stable boundary
      if (dirty) {
        out.append(text.data() + copied, last_safe - copied);
        normalize_stretch(p + last_safe, i - last_safe, out);
        copied = i;
        dirty = false;
      }
      last_safe = i;
      ++i;
      continue;
    }
    const DecodedCp d = decode_utf8(p + i, n - i);
    if ((cp_flags(d.cp) & kNeedsWork) != 0) {
      dirty = true;
    } else {
      if (dirty) {
        out.append(text.data() + copied, last_safe - copied);
        normalize_stretch(p + last_safe, i - last_safe, out);
        copied = i;
        dirty = false;
      }
      last_safe = i;
    }
    i += d.len;
  }
  if (dirty) {
    out.append(text.data() + copied, last_safe - copied);
    normalize_stretch(p + last_safe, n - last_safe, out);
  } else {
    out.append(text.data() + copied, n - copied);
  }
}

bool is_nfc_quick(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    const detail::DecodedCp d = detail::decode_utf8(p + i, n - i);
    if ((detail::cp_flags(d.cp) & detail::kNeedsWork) != 0) return false;
    i += d.len;
  }
  return true;
}

const char* unicode_version() { return detail::ucd::kUnicodeVersion; }

}  // namespace qwenedge::tokenizer
