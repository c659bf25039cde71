#!/usr/bin/env python3
"""Generates tokenizer/unicode/unicode_tables.{hpp,cpp} from the Unicode Character Database.

Usage: gen_unicode_tables.py [UCD_DIR] [OUT_DIR]
  UCD_DIR defaults to /usr/share/unicode (Debian package `unicode-data`),
  OUT_DIR defaults to the folder of this script.

Reads UnicodeData.txt, PropList.txt, DerivedNormalizationProps.txt and ReadMe.txt.
Python 3 standard library only. The output is deterministic: regenerating from the same
UCD version gives byte-identical files.

What the tokenizer needs, and how it is stored:
  * per code point property flags (letter, number, White_Space, NFC quick check not Yes,
    non-zero canonical combining class) in a two-level table: a block index (cp >> shift)
    and deduplicated blocks of flag bytes. The block size is chosen to minimise the total size.
  * canonical combining classes as sorted ranges (start, end, class).
  * full canonical decompositions (applied recursively at generation time; Hangul syllables are
    algorithmic and not stored) as a sorted code point list pointing into one pool.
  * primary composites: (first, second) -> composite for every two-code-point canonical mapping
    that is not Full_Composition_Exclusion, sorted by (first << 21 | second).
"""
import os
import re
import sys

MAX_CP = 0x110000

FLAG_LETTER = 0x01
FLAG_NUMBER = 0x02
FLAG_SPACE = 0x04
FLAG_NFC_QC = 0x08   # NFC_Quick_Check is No or Maybe
FLAG_CCC = 0x10      # canonical combining class is not 0


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                yield [field.strip() for field in line.split(";")]


def parse_range(text):
    if ".." in text:
        a, b = text.split("..")
        return int(a, 16), int(b, 16)
    return int(text, 16), int(text, 16)


def unicode_version(ucd):
    with open(os.path.join(ucd, "ReadMe.txt"), encoding="utf-8") as f:
        m = re.search(r"Version (\d+\.\d+\.\d+) of the Unicode Standard", f.read())
    if not m:
        sys.exit("cannot find the Unicode version in ReadMe.txt")
    return m.group(1)


def load_unicode_data(ucd):
    """Returns (general category per cp, ccc per cp, raw canonical decomposition dict)."""
    gc = ["Cn"] * MAX_CP
    ccc = [0] * MAX_CP
    decomp = {}
    range_start = None
    for f in read_lines(os.path.join(ucd, "UnicodeData.txt")):
        cp = int(f[0], 16)
        name, cat, cls, dm = f[1], f[2], int(f[3]), f[5]
        if name.endswith(", First>"):
            range_start = cp
            continue
        first = range_start if name.endswith(", Last>") else cp
        range_start = None
        for c in range(first, cp + 1):
            gc[c] = cat
            ccc[c] = cls
        if dm and not dm.startswith("<"):
            decomp[cp] = [int(x, 16) for x in dm.split()]
    return gc, ccc, decomp


def load_property(path, name, value=None):
    out = set()
    for f in read_lines(path):
        if f[1] != name:
            continue
        if value is not None and (len(f) < 3 or f[2] != value):
            continue
        a, b = parse_range(f[0])
        out.update(range(a, b + 1))
    return out


def full_decomposition(cp, decomp):
    if cp not in decomp:
        return [cp]
    out = []
    for c in decomp[cp]:
        out.extend(full_decomposition(c, decomp))
    return out


def two_level(values, shift):
    size = 1 << shift
    blocks, index, seen = [], [], {}
    for start in range(0, MAX_CP, size):
        block = tuple(values[start:start + size])
        if block not in seen:
            seen[block] = len(blocks)
            blocks.append(block)
        index.append(seen[block])
    return index, blocks


def c_array(ctype, name, values, per_line=16, fmt="{}"):
    lines = [f"const {ctype} {name}[{len(values)}] = {{"]
    for i in range(0, len(values), per_line):
        lines.append("  " + " ".join(fmt.format(v) + "," for v in values[i:i + per_line]))
    lines.append("};")
    return "\n".join(lines)


def main():
    ucd = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode"
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
    version = unicode_version(ucd)
    gc, ccc, decomp = load_unicode_data(ucd)
    white = load_property(os.path.join(ucd, "PropList.txt"), "White_Space")
    dnp = os.path.join(ucd, "DerivedNormalizationProps.txt")
    nfc_no = load_property(dnp, "NFC_QC", "N")
    nfc_maybe = load_property(dnp, "NFC_QC", "M")
    full_excl = load_property(dnp, "Full_Composition_Exclusion")

    flags = [0] * MAX_CP
    for cp in range(MAX_CP):
        v = 0
        cat = gc[cp]
        if cat in ("Lu", "Ll", "Lt", "Lm", "Lo"):
            v |= FLAG_LETTER
        if cat in ("Nd", "Nl", "No"):
            v |= FLAG_NUMBER
        if cp in white:
            v |= FLAG_SPACE
        if cp in nfc_no or cp in nfc_maybe:
            v |= FLAG_NFC_QC
        if ccc[cp]:
            v |= FLAG_CCC
        flags[cp] = v

    best = None
    for shift in range(4, 12):
        index, blocks = two_level(flags, shift)
        cost = len(index) * (1 if len(blocks) <= 256 else 2) + len(blocks) * (1 << shift)
        if best is None or cost < best[0]:
            best = (cost, shift, index, blocks)
    _, shift, index, blocks = best
    index_type = "uint8_t" if len(blocks) <= 256 else "uint16_t"

    ccc_ranges = []
    for cp in range(MAX_CP):
        if ccc[cp] == 0:
            continue
        if ccc_ranges and ccc_ranges[-1][1] == cp - 1 and ccc_ranges[-1][2] == ccc[cp]:
            ccc_ranges[-1][1] = cp
        else:
            ccc_ranges.append([cp, cp, ccc[cp]])

    decomp_cps, decomp_offsets, pool = [], [], []
    for cp in sorted(decomp):
        full = full_decomposition(cp, decomp)
        decomp_cps.append(cp)
        decomp_offsets.append(len(pool))
        pool.extend(full)
    decomp_offsets.append(len(pool))

    compose = []
    for cp, parts in decomp.items():
        if len(parts) == 2 and cp not in full_excl:
            compose.append(((parts[0] << 21) | parts[1], cp))
    compose.sort()

    hpp = f"""// Generated by tokenizer/unicode/gen_unicode_tables.py from the Unicode Character Database
// {version}. Do not edit: change the generator and regenerate (see tokenizer/unicode/README.md).
#pragma once

#include <cstddef>
#include <cstdint>

namespace qwenedge::tokenizer::detail::ucd {{

inline constexpr char kUnicodeVersion[] = "{version}";

// Per code point flags.
inline constexpr uint8_t kFlagLetter = 0x{FLAG_LETTER:02x};  // General_Category L (Lu Ll Lt Lm Lo)
inline constexpr uint8_t kFlagNumber = 0x{FLAG_NUMBER:02x};  // General_Category N (Nd Nl No)
inline constexpr uint8_t kFlagSpace = 0x{FLAG_SPACE:02x};   // White_Space
inline constexpr uint8_t kFlagNfcQc = 0x{FLAG_NFC_QC:02x};   // NFC_Quick_Check No or Maybe
inline constexpr uint8_t kFlagCcc = 0x{FLAG_CCC:02x};     // Canonical_Combining_Class != 0

// flags(cp) = kFlagBlocks[(kFlagIndex[cp >> kFlagShift] << kFlagShift) | (cp & kFlagMask)]
inline constexpr unsigned kFlagShift = {shift};
inline constexpr uint32_t kFlagMask = {(1 << shift) - 1};
extern const {index_type} kFlagIndex[{len(index)}];
extern const uint8_t kFlagBlocks[{len(blocks) << shift}];

// Canonical combining classes: sorted, disjoint [first, last] ranges.
struct CccRange {{
  uint32_t first;
  uint32_t last;
  uint8_t ccc;
}};
inline constexpr size_t kCccRangeCount = {len(ccc_ranges)};
extern const CccRange kCccRanges[kCccRangeCount];

// Full canonical decompositions (Hangul excluded): kDecompCps is sorted; the decomposition of
// kDecompCps[i] is kDecompPool[kDecompOffsets[i] .. kDecompOffsets[i + 1]).
inline constexpr size_t kDecompCount = {len(decomp_cps)};
extern const uint32_t kDecompCps[kDecompCount];
extern const uint16_t kDecompOffsets[kDecompCount + 1];
extern const uint32_t kDecompPool[{len(pool)}];

// Primary composites (Hangul excluded): sorted by key = first << 21 | second.
struct Composition {{
  uint64_t key;
  uint32_t composite;
}};
inline constexpr size_t kCompositionCount = {len(compose)};
extern const Composition kCompositions[kCompositionCount];

}}  // namespace qwenedge::tokenizer::detail::ucd
"""
    parts = [
        f"// Generated by tokenizer/unicode/gen_unicode_tables.py from the Unicode Character Database\n"
        f"// {version}. Do not edit: change the generator and regenerate (see tokenizer/unicode/README.md).\n"
        f'#include "tokenizer/unicode/unicode_tables.hpp"\n\n'
        f"namespace qwenedge::tokenizer::detail::ucd {{\n",
        c_array(index_type, "kFlagIndex", index, 24),
        c_array("uint8_t", "kFlagBlocks", [v for b in blocks for v in b], 32),
        "const CccRange kCccRanges[kCccRangeCount] = {\n" + "\n".join(
            f"  {{0x{a:X}, 0x{b:X}, {c}}}," for a, b, c in ccc_ranges) + "\n};",
        c_array("uint32_t", "kDecompCps", decomp_cps, 10, "0x{:X}"),
        c_array("uint16_t", "kDecompOffsets", decomp_offsets, 16),
        c_array("uint32_t", "kDecompPool", pool, 10, "0x{:X}"),
        "const Composition kCompositions[kCompositionCount] = {\n" + "\n".join(
            f"  {{0x{k:X}, 0x{c:X}}}," for k, c in compose) + "\n};",
        "}  // namespace qwenedge::tokenizer::detail::ucd\n",
    ]
    with open(os.path.join(out_dir, "unicode_tables.hpp"), "w", encoding="utf-8") as f:
        f.write(hpp)
    with open(os.path.join(out_dir, "unicode_tables.cpp"), "w", encoding="utf-8") as f:
        f.write("\n\n".join(parts))
    print(f"Unicode {version}: shift {shift}, {len(blocks)} flag blocks, {len(ccc_ranges)} ccc ranges, "
          f"{len(decomp_cps)} decompositions, {len(compose)} compositions")


if __name__ == "__main__":
    main()
