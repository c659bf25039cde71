#!/usr/bin/env python3
"""Minimal, independent GGUF v3 reader for the NumPy reference.

Written from the GGUF format description (not from the engine's C++ reader) so
that the two can check each other.  Reads the header, every metadata value
type (scalars, strings, nested arrays), the tensor infos, general.alignment
and the data section, and dequantizes F32, F16, BF16, Q8_0 and Q4_0 tensors
to float32.

Layout (all little-endian):
  magic "GGUF", u32 version, u64 tensor_count, u64 metadata_kv_count,
  metadata: (string key, u32 value_type, value) * kv_count,
  tensor infos: (string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset) * tensor_count,
  padding to general.alignment (default 32), then the data section; each
  tensor's offset is relative to the start of the data section.
  A string is u64 length + UTF-8 bytes; an array is u32 element type + u64 count + elements.
ne[0] is the innermost (contiguous) dimension: numpy shape = reversed(ne).

Usage: gguf_reader.py FILE  prints the metadata (long arrays abbreviated) and tensor list.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# metadata value types
T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL = range(8)
T_STRING, T_ARRAY, T_UINT64, T_INT64, T_FLOAT64 = 8, 9, 10, 11, 12

SCALAR_TYPES: dict[int, str] = {
    T_UINT8: "<u1", T_INT8: "<i1", T_UINT16: "<u2", T_INT16: "<i2",
    T_UINT32: "<u4", T_INT32: "<i4", T_FLOAT32: "<f4", T_BOOL: "<u1",
    T_UINT64: "<u8", T_INT64: "<i8", T_FLOAT64: "<f8",
}

# ggml tensor types read here: name, elements per block, bytes per block
GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q8_0, GGML_BF16 = 0, 1, 2, 8, 30
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    GGML_F32: ("F32", 1, 4),
    GGML_F16: ("F16", 1, 2),
    GGML_Q4_0: ("Q4_0", 32, 2 + 16),
    GGML_Q8_0: ("Q8_0", 32, 2 + 32),
    GGML_BF16: ("BF16", 1, 2),
}


class GGUFError(ValueError):
    """A malformed or unsupported GGUF file (message names the field at fault)."""


@dataclass
class TensorInfo:
    name: str
    ne: tuple[int, ...]      # GGUF order: ne[0] innermost
    ggml_type: int
    offset: int              # relative to the data section

    @property
    def shape(self) -> tuple[int, ...]:
        """numpy (row-major) shape."""
        return tuple(reversed(self.ne))

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.ne:
            n *= d
        return n

    @property
    def type_name(self) -> str:
        return GGML_TYPES.get(self.ggml_type, (f"type{self.ggml_type}", 0, 0))[0]

    def n_bytes(self) -> int:
        if self.ggml_type not in GGML_TYPES:
            raise GGUFError(f"tensor {self.name}: unsupported ggml type {self.ggml_type}")
        _, block, block_bytes = GGML_TYPES[self.ggml_type]
        if self.ne and self.ne[0] % block:
            raise GGUFError(f"tensor {self.name}: ne[0]={self.ne[0]} not a multiple of block size {block}")
        return self.n_elements // block * block_bytes


class _Cursor:
    """Bounds-checked little-endian reader over a byte buffer."""

    def __init__(self, buf: memoryview, path: str):
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise GGUFError(f"{self.path}: truncated while reading {what} at offset {self.pos}")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> Any:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))[0]

    def string(self, what: str) -> str:
        n = self.unpack("Q", what + " length")
        raw = bytes(self.take(n, what))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            # Token strings may hold partial UTF-8 in some files; keep them lossless.
            return raw.decode("utf-8", errors="surrogateescape")

    def value(self, vtype: int, what: str) -> Any:
        if vtype == T_STRING:
            return self.string(what)
        if vtype == T_BOOL:
            b = self.unpack("B", what)
            if b > 1:
                raise GGUFError(f"{self.path}: {what}: bool value {b}")
            return bool(b)
        if vtype in SCALAR_TYPES:
            dt = np.dtype(SCALAR_TYPES[vtype])
            return np.frombuffer(self.take(dt.itemsize, what), dtype=dt)[0].item()
        if vtype == T_ARRAY:
            etype = self.unpack("I", what + " array type")
            count = self.unpack("Q", what + " array count")
            if etype in SCALAR_TYPES and etype != T_BOOL:
                dt = np.dtype(SCALAR_TYPES[etype])
                return np.frombuffer(self.take(count * dt.itemsize, what), dtype=dt).tolist()
            if etype not in SCALAR_TYPES and etype not in (T_STRING, T_ARRAY):
                raise GGUFError(f"{self.path}: {what}: unknown array element type {etype}")
            return [self.value(etype, what) for _ in range(count)]
        raise GGUFError(f"{self.path}: {what}: unknown metadata value type {vtype}")


class GGUFFile:
    """A parsed GGUF file: .version, .metadata (dict), .tensors (name -> TensorInfo)."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._data = np.memmap(self.path, dtype=np.uint8, mode="r")
        cur = _Cursor(memoryview(self._data), self.path)
        if bytes(cur.take(4, "magic")) != GGUF_MAGIC:
            raise GGUFError(f"{self.path}: not a GGUF file (bad magic)")
        self.version = cur.unpack("I", "version")
        if self.version not in (2, 3):
            raise GGUFError(f"{self.path}: unsupported GGUF version {self.version}")
        n_tensors = cur.unpack("Q", "tensor_count")
        n_kv = cur.unpack("Q", "metadata_kv_count")
        self.metadata: dict[str, Any] = {}
        self.metadata_types: dict[str, int] = {}
        for i in range(n_kv):
            key = cur.string(f"metadata key #{i}")
            vtype = cur.unpack("I", f"type of {key}")
            self.metadata[key] = cur.value(vtype, key)
            self.metadata_types[key] = vtype
        self.tensors: dict[str, TensorInfo] = {}
        for i in range(n_tensors):
            name = cur.string(f"tensor name #{i}")
            n_dims = cur.unpack("I", f"n_dims of {name}")
            if n_dims > 4:
                raise GGUFError(f"{self.path}: tensor {name}: n_dims {n_dims} > 4")
            ne = tuple(cur.unpack("Q", f"ne of {name}") for _ in range(n_dims))
            ggml_type = cur.unpack("I", f"type of {name}")
            offset = cur.unpack("Q", f"offset of {name}")
            if name in self.tensors:
                raise GGUFError(f"{self.path}: duplicate tensor {name}")
            self.tensors[name] = TensorInfo(name, ne, ggml_type, offset)
        self.alignment = int(self.metadata.get("general.alignment", DEFAULT_ALIGNMENT))
        if self.alignment <= 0 or self.alignment & (self.alignment - 1):
            raise GGUFError(f"{self.path}: general.alignment {self.alignment} is not a power of two")
        self.data_offset = cur.pos + (-cur.pos % self.alignment)
        for t in self.tensors.values():
            if t.offset % self.alignment:
                raise GGUFError(f"{self.path}: tensor {t.name}: offset {t.offset} not aligned")
            end = self.data_offset + t.offset + t.n_bytes()
            if end > len(self._data):
                raise GGUFError(f"{self.path}: tensor {t.name}: data runs past end of file")

    def raw(self, name: str) -> np.ndarray:
        """The tensor's bytes as a uint8 view into the file."""
        t = self.tensors[name]
        start = self.data_offset + t.offset
        return self._data[start:start + t.n_bytes()]

    def tensor(self, name: str) -> np.ndarray:
        """Dequantized float32 array with numpy shape reversed(ne)."""
        t = self.tensors.get(name)
        if t is None:
            raise GGUFError(f"{self.path}: no tensor {name}")
        return dequantize(self.raw(name), t.ggml_type, t.n_elements).reshape(t.shape)


def dequantize(raw: np.ndarray, ggml_type: int, n: int) -> np.ndarray:
    """Bytes of one tensor -> flat float32 array of n elements."""
    raw = np.ascontiguousarray(raw)
    if ggml_type == GGML_F32:
        return raw.view("<f4").astype(np.float32)
    if ggml_type == GGML_F16:
        return raw.view("<f2").astype(np.float32)
    if ggml_type == GGML_BF16:
        return (raw.view("<u2").astype(np.uint32) << np.uint32(16)).view(np.float32)
    if ggml_type == GGML_Q8_0:
        blocks = raw.reshape(-1, 34)
        d = blocks[:, :2].copy().view("<f2").astype(np.float32)           # [nb, 1]
        q = blocks[:, 2:].copy().view(np.int8).astype(np.float32)         # [nb, 32]
        return (d * q).reshape(n)
    if ggml_type == GGML_Q4_0:
        blocks = raw.reshape(-1, 18)
        d = blocks[:, :2].copy().view("<f2").astype(np.float32)           # [nb, 1]
        qs = blocks[:, 2:]                                                # [nb, 16]
        lo = (qs & 0x0F).astype(np.float32) - 8.0                        # elements 0..15
        hi = (qs >> 4).astype(np.float32) - 8.0                          # elements 16..31
        return (d * np.concatenate([lo, hi], axis=1)).reshape(n)
    name = GGML_TYPES.get(ggml_type, (str(ggml_type),))[0]
    raise GGUFError(f"unsupported ggml type {name}")


def _short(v: Any) -> str:
    if isinstance(v, list) and len(v) > 8:
        return f"[{', '.join(map(repr, v[:4]))}, ... ({len(v)} items)]"
    s = repr(v)
    return s if len(s) <= 120 else s[:117] + "..."


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    g = GGUFFile(argv[1])
    print(f"GGUF v{g.version}, {len(g.metadata)} metadata keys, {len(g.tensors)} tensors, alignment {g.alignment}")
    for k, v in g.metadata.items():
        print(f"  {k} = {_short(v)}")
    for t in g.tensors.values():
        print(f"  {t.name:32s} {t.type_name:5s} ne={list(t.ne)} offset={t.offset}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (GGUFError, OSError) as e:
        print(f"gguf_reader: error: {e}", file=sys.stderr)
        sys.exit(1)
