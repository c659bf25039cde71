#!/usr/bin/env bash
# Writes small valid GGUF files (every value type, every tensor type) as the fuzzer's seeds.
set -euo pipefail
out=$1
/usr/bin/python3 - "$out" <<'PY'
import struct, sys, os
out = sys.argv[1]

def s(x): b = x.encode(); return struct.pack('<Q', len(b)) + b

def gguf(kvs, tensors, align=32):
    h = b'GGUF' + struct.pack('<IQQ', 3, len(tensors), len(kvs))
    for k, t, payload in kvs: h += s(k) + struct.pack('<I', t) + payload
    off = 0; data = b''
    for name, ne, typ, nbytes in tensors:
        pad = (-off) % align; data += b'\0' * pad; off += pad
        h += s(name) + struct.pack('<I', len(ne)) + b''.join(struct.pack('<Q', d) for d in ne) + struct.pack('<IQ', typ, off)
        data += bytes((i * 37) & 0xff for i in range(nbytes)); off += nbytes
    h += b'\0' * ((-len(h)) % align)
    return h + data

kvs = [("general.architecture", 8, s("qwen2")), ("u8", 0, b'\x07'), ("i8", 1, b'\xff'), ("u16", 2, struct.pack('<H', 9)),
       ("i16", 3, struct.pack('<h', -9)), ("u32", 4, struct.pack('<I', 32)), ("i32", 5, struct.pack('<i', -32)),
       ("f32", 6, struct.pack('<f', 1.5)), ("b", 7, b'\x01'), ("u64", 10, struct.pack('<Q', 64)),
       ("i64", 11, struct.pack('<q', -64)), ("f64", 12, struct.pack('<d', 2.5)),
       ("tokens", 9, struct.pack('<IQ', 8, 3) + s("a") + s("bc") + s("")),
       ("types", 9, struct.pack('<IQ', 5, 3) + struct.pack('<iii', 1, 3, 4)),
       ("nested", 9, struct.pack('<IQ', 9, 1) + struct.pack('<IQ', 4, 2) + struct.pack('<II', 1, 2))]
tensors = [("f32", [4, 2], 0, 32), ("f16", [8], 1, 16), ("q4", [32, 2], 2, 36), ("q8", [32], 8, 34), ("bf16", [3], 30, 6),
           # row-interleaved Q4_0_R8 / Q8_0_R8: the last group of 8 rows padded
           ("q4r8", [32, 3], 1002, 8 * 18), ("q8r8", [64, 9], 1008, 16 * 68)]
open(os.path.join(out, 'full.gguf'), 'wb').write(gguf(kvs, tensors))
open(os.path.join(out, 'aligned64.gguf'), 'wb').write(gguf([("general.alignment", 4, struct.pack('<I', 64))], tensors[:2], 64))
open(os.path.join(out, 'empty.gguf'), 'wb').write(gguf([], []))
PY
