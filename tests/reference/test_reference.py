#!/usr/bin/env python3
"""Self-tests of the NumPy reference, the GGUF reader and the fixture generator.

  test_reference.py [--shared-dir DIR] [--gguf FILE [--gguf-hf DIR]] [--all-prompts]

* goldens: the reference reproduces shared/models/tiny-qwen2-kjv/goldens.json
  (all 151936 logits of prompt 0, top-10 logits of every prompt, greedy ids and
  per-step top-5 logits of two prompts; --all-prompts: all six).  Skipped when
  the shared directory is missing.
* fixture: make_tiny_qwen2.py output loads, single/sharded variants hold the same
  tensors in different file orders, bf16 rounding is to nearest even, logits spread.
* gguf: a GGUF written here (every metadata type, F32/F16/BF16/Q8_0/Q4_0) reads
  back exactly; a hand-made Q4_0/Q8_0 block dequantizes per the spec; a GGUF
  holding the fixture in F32 gives the same logits as the HF directory.
* --gguf FILE: the given file loads, and its logits on prompt 0 are compared with
  the HF directory --gguf-hf (default: tiny-qwen2-kjv): within 1e-3 (F32/BF16) or
  2e-2 (F16) when all matrices are float; quantized files: difference reported only.

Prints one line per test and "N passed, M failed, K skipped"; exit status 1 on failure.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
import gguf_reader as gr  # noqa: E402
import qwen2_ref as ref  # noqa: E402

FIXTURE_SCRIPT = REPO / "tests" / "fixtures" / "make_tiny_qwen2.py"
GOLDEN_LOGIT_TOL = 1e-3


class Skip(Exception):
    """Raised by a test that cannot run here (missing data)."""


# ----------------------------------------------------------------------------
# goldens on the trained tiny model


def kjv_dir(shared: Path) -> Path:
    d = shared / "models" / "tiny-qwen2-kjv"
    if not (d / "goldens.json").is_file():
        raise Skip(f"{d}/goldens.json not found")
    return d


_kjv_cache: dict[str, object] = {}


def load_kjv(shared: Path):
    d = kjv_dir(shared)
    if "model" not in _kjv_cache:
        _kjv_cache["model"] = ref.load_hf(d)
        _kjv_cache["goldens"] = json.loads((d / "goldens.json").read_text())
    config, weights = _kjv_cache["model"]
    return config, weights, _kjv_cache["goldens"]


def test_goldens_full_logits(args) -> str:
    config, weights, g = load_kjv(args.shared_dir)
    p = g["prompts"][0]
    want = np.array(g["first_prompt_last_position_logits"]["logits"])
    got = ref.forward(config, weights, p["prompt_ids"], last_only=True)[0]
    diff = np.abs(got - want).max()
    assert diff < GOLDEN_LOGIT_TOL, f"max abs diff {diff:.3g} over all logits"
    return f"max abs diff over {len(want)} logits {diff:.2e}"


def test_goldens_top10(args) -> str:
    config, weights, g = load_kjv(args.shared_dir)
    worst = 0.0
    for i, p in enumerate(g["prompts"]):
        logits = ref.forward(config, weights, p["prompt_ids"], last_only=True)[0]
        top = p["last_prompt_logits_top10"]
        diff = np.abs(logits[top["ids"]] - np.array(top["logits"])).max()
        worst = max(worst, diff)
        assert diff < GOLDEN_LOGIT_TOL, f"prompt {i}: top-10 logits differ by {diff:.3g}"
        got_top1 = int(np.argmax(logits))
        assert got_top1 == top["ids"][0], f"prompt {i}: argmax {got_top1} != {top['ids'][0]}"
    return f"{len(g['prompts'])} prompts, max abs diff {worst:.2e}"


def test_goldens_greedy(args) -> str:
    """Greedy ids and the top-5 logits at every step, recomputed from scratch."""
    config, weights, g = load_kjv(args.shared_dir)
    prompts = g["prompts"] if args.all_prompts else [g["prompts"][0], g["prompts"][3]]
    matched = total = 0
    worst = 0.0
    for p in prompts:
        seq = list(p["prompt_ids"])
        for step, want_id in enumerate(p["greedy_ids"]):
            logits = ref.forward(config, weights, seq, last_only=True)[0]
            top5 = p["greedy_step_top5"][step]
            worst = max(worst, float(np.abs(logits[top5["ids"]] - np.array(top5["logits"])).max()))
            got = int(np.argmax(logits))
            total += 1
            matched += got == want_id
            assert got == want_id, f"{p['prompt']!r} step {step}: {got} != {want_id}"
            seq.append(got)
    assert worst < GOLDEN_LOGIT_TOL, f"per-step top-5 logits differ by {worst:.3g}"
    return f"{matched}/{total} greedy ids match over {len(prompts)} prompts, top-5 max abs diff {worst:.2e}"


# ----------------------------------------------------------------------------
# fixture generator


def make_fixture(out: Path, *extra: str) -> Path:
    cmd = [sys.executable, str(FIXTURE_SCRIPT), str(out), "--no-tokenizer", *extra]
    subprocess.run(cmd, check=True)
    return out


def safetensors_order(path: Path) -> list[str]:
    """Tensor names of one file in data-offset order."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    return sorted(header, key=lambda k: header[k]["data_offsets"][0])


def test_fixture_single_vs_sharded(args) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        a = make_fixture(Path(tmp) / "single", "--seed", "7")
        b = make_fixture(Path(tmp) / "sharded", "--seed", "7", "--shards", "3")
        ca, wa = ref.load_hf(a)
        cb, wb = ref.load_hf(b)
        assert ca == cb, "configs differ"
        assert wa.keys() == wb.keys(), "tensor names differ"
        for k in wa:
            assert np.array_equal(wa[k], wb[k]), f"{k} differs between single and sharded"
        index = json.loads((b / "model.safetensors.index.json").read_text())
        shards = sorted(set(index["weight_map"].values()))
        assert shards == [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)], shards
        sharded_order = [n for s in shards for n in safetensors_order(b / s)]
        single_order = safetensors_order(a / "model.safetensors")
        assert sorted(sharded_order) == sorted(single_order)
        assert sharded_order != single_order, "shards keep the single-file order"
        sizes = sum((b / s).stat().st_size for s in shards)
        assert index["metadata"]["total_size"] < sizes
        return f"{len(wa)} tensors identical, shard order differs"


def test_fixture_variants(args) -> str:
    """Config keys, dtypes, untied head, and a meaningful logit spread."""
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        for extra in (["--dtype", "bf16"], ["--dtype", "f32", "--untied"], ["--dtype", "f16", "--vocab", "1000"]):
            d = make_fixture(Path(tmp) / "_".join(extra), *extra)
            cfg = json.loads((d / "config.json").read_text())
            for key in ("architectures", "model_type", "rope_theta", "rms_norm_eps", "tie_word_embeddings",
                        "max_position_embeddings", "torch_dtype", "vocab_size", "num_key_value_heads"):
                assert key in cfg, f"config.json lacks {key}"
            assert cfg["rope_theta"] == 1e6 and cfg["rms_norm_eps"] == 1e-6
            assert (d / "generation_config.json").is_file()
            config, weights = ref.load_hf(d)
            assert config.tied == ("--untied" not in extra)
            assert ("output.weight" in weights) == ("--untied" in extra)
            logits = ref.forward(config, weights, [1, 5, 9, 200, 3, 77, 5, 1])
            std = float(logits.std(axis=-1).min())
            assert std > 1.0, f"{extra}: logits nearly uniform (std {std:.2f})"
            notes.append(f"{extra[1]}{'/untied' if '--untied' in extra else ''} std {std:.1f}")
    return ", ".join(notes)


def test_fixture_deterministic_and_bf16(args) -> str:
    sys.path.insert(0, str(FIXTURE_SCRIPT.parent))
    import make_tiny_qwen2 as mk
    x = np.array([1.0, 1.00390625, 1.01171875, 1.0 + 2 ** -9, 1.0 + 3 * 2 ** -9, -2.5, 3.0e38], dtype=np.float32)
    bits = mk.f32_to_bf16_bits(x)
    # 1+2^-8 and 1+3*2^-8 are ties -> even mantissa; 1+2^-9 rounds down, 1+3*2^-9 up
    assert list(bits[:6]) == [0x3F80, 0x3F80, 0x3F82, 0x3F80, 0x3F81, 0xC020], [hex(b) for b in bits]
    assert bits[6] == 0x7F62, hex(bits[6])  # 3e38 stays finite
    with tempfile.TemporaryDirectory() as tmp:
        a = make_fixture(Path(tmp) / "a", "--seed", "3", "--vocab", "512")
        b = make_fixture(Path(tmp) / "b", "--seed", "3", "--vocab", "512")
        c = make_fixture(Path(tmp) / "c", "--seed", "4", "--vocab", "512")
        fa, fb, fc = ((p / "model.safetensors").read_bytes() for p in (a, b, c))
        assert fa == fb, "same seed gave different files"
        assert fa != fc, "different seeds gave the same file"
    return "bf16 round-to-nearest-even, same seed -> same bytes"


# ----------------------------------------------------------------------------
# GGUF


def _gguf_string(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _gguf_value(vtype: int, v) -> bytes:
    if vtype == gr.T_STRING:
        return _gguf_string(v)
    if vtype == gr.T_ARRAY:
        etype, items = v
        return struct.pack("<IQ", etype, len(items)) + b"".join(_gguf_value(etype, x) for x in items)
    return np.array(v, dtype=gr.SCALAR_TYPES[vtype]).tobytes()


def quantize_q8_0(x: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Bytes and the exact dequantized values d16*q of a Q8_0 tensor."""
    blocks = x.reshape(-1, 32).astype(np.float32)
    d = (np.abs(blocks).max(axis=1, keepdims=True) / 127.0).astype(np.float16)
    inv = np.where(d == 0, 0, 1.0 / d.astype(np.float32))
    q = np.clip(np.rint(blocks * inv), -127, 127).astype(np.int8)
    raw = np.concatenate([d.view(np.uint8), q.view(np.uint8)], axis=1)
    return raw.tobytes(), (d.astype(np.float32) * q).reshape(x.shape)


def quantize_q4_0(x: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Bytes and exact dequantized values of a Q4_0 tensor (low nibble = j, high = j+16)."""
    blocks = x.reshape(-1, 32).astype(np.float32)
    idx = np.abs(blocks).argmax(axis=1)
    mx = blocks[np.arange(len(blocks)), idx][:, None]
    d = (mx / -8.0).astype(np.float16)
    inv = np.where(d == 0, 0, 1.0 / d.astype(np.float32))
    q = np.clip(np.floor(blocks * inv + 8.5), 0, 15).astype(np.uint8)
    packed = q[:, :16] | (q[:, 16:] << 4)
    raw = np.concatenate([d.view(np.uint8), packed], axis=1)
    return raw.tobytes(), (d.astype(np.float32) * (q.astype(np.float32) - 8.0)).reshape(x.shape)


def encode_tensor(x: np.ndarray, kind: str) -> tuple[int, bytes, np.ndarray]:
    """(ggml type, bytes, values a correct reader must return)."""
    x = x.astype(np.float32)
    if kind == "F32":
        return gr.GGML_F32, x.tobytes(), x
    if kind == "F16":
        h = x.astype(np.float16)
        return gr.GGML_F16, h.tobytes(), h.astype(np.float32)
    if kind == "BF16":
        bits = (x.view(np.uint32) >> 16).astype(np.uint16)   # truncation: any bf16 value will do
        return gr.GGML_BF16, bits.tobytes(), (bits.astype(np.uint32) << 16).view(np.float32)
    if kind == "Q8_0":
        raw, deq = quantize_q8_0(x)
        return gr.GGML_Q8_0, raw, deq
    raw, deq = quantize_q4_0(x)
    return gr.GGML_Q4_0, raw, deq


def write_gguf(path: Path, metadata: list[tuple[str, int, object]],
               tensors: list[tuple[str, int, bytes, tuple[int, ...]]], alignment: int = 32) -> None:
    """metadata: (key, type, value); tensors: (name, ggml type, bytes, numpy shape)."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata)))
    for key, vtype, v in metadata:
        out += _gguf_string(key) + struct.pack("<I", vtype) + _gguf_value(vtype, v)
    offset = 0
    offsets = []
    for name, gtype, raw, shape in tensors:
        offsets.append(offset)
        ne = list(reversed(shape))
        out += _gguf_string(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
        out += struct.pack("<IQ", gtype, offset)
        offset += len(raw) + (-len(raw) % alignment)
    out += b"\0" * (-len(out) % alignment)
    for (_, _, raw, _), off in zip(tensors, offsets):
        out += raw + b"\0" * (-len(raw) % alignment)
    path.write_bytes(bytes(out))


def fixture_to_gguf(config: ref.Qwen2Config, weights: ref.Weights, path: Path, matrix_kind: str,
                    alignment: int = 32) -> dict[str, np.ndarray]:
    """Write weights (internal = GGUF names) to a GGUF; return what the reader must give back."""
    md = [
        ("general.architecture", gr.T_STRING, "qwen2"),
        ("general.alignment", gr.T_UINT32, alignment),
        ("qwen2.context_length", gr.T_UINT32, config.context_length),
        ("qwen2.embedding_length", gr.T_UINT32, config.hidden),
        ("qwen2.block_count", gr.T_UINT32, config.layers),
        ("qwen2.feed_forward_length", gr.T_UINT32, config.intermediate),
        ("qwen2.attention.head_count", gr.T_UINT32, config.heads),
        ("qwen2.attention.head_count_kv", gr.T_UINT32, config.kv_heads),
        ("qwen2.rope.freq_base", gr.T_FLOAT32, config.rope_theta),
        ("qwen2.attention.layer_norm_rms_epsilon", gr.T_FLOAT32, config.rms_eps),
        # one key of every remaining value type, to exercise the reader
        ("test.u8", gr.T_UINT8, 200), ("test.i8", gr.T_INT8, -100), ("test.u16", gr.T_UINT16, 60000),
        ("test.i16", gr.T_INT16, -30000), ("test.i32", gr.T_INT32, -2 ** 31), ("test.bool", gr.T_BOOL, True),
        ("test.u64", gr.T_UINT64, 2 ** 63 + 5), ("test.i64", gr.T_INT64, -2 ** 62), ("test.f64", gr.T_FLOAT64, 0.1),
        ("test.strings", gr.T_ARRAY, (gr.T_STRING, ["a", "", "é中", "<|im_end|>"])),
        ("test.nested", gr.T_ARRAY, (gr.T_ARRAY, [(gr.T_INT32, [1, -2]), (gr.T_INT32, [])])),
        ("test.bools", gr.T_ARRAY, (gr.T_BOOL, [True, False])),
        ("test.f32s", gr.T_ARRAY, (gr.T_FLOAT32, [0.5, -1.25])),
    ]
    tensors = []
    expect: dict[str, np.ndarray] = {}
    for name, arr in weights.items():
        kind = matrix_kind if arr.ndim == 2 else "F32"
        gtype, raw, deq = encode_tensor(arr, kind)
        tensors.append((name, gtype, raw, arr.shape))
        expect[name] = deq
    tensors.reverse()  # file order unlike the model order
    write_gguf(path, md, tensors, alignment)
    return expect


def configs_match(a: ref.Qwen2Config, b: ref.Qwen2Config) -> bool:
    """Equal, except float fields compared to float32 precision (GGUF stores them as f32)."""
    for f in a.__dataclass_fields__:
        x, y = getattr(a, f), getattr(b, f)
        if isinstance(x, float):
            if abs(x - y) > 1e-6 * abs(y):
                return False
        elif x != y:
            return False
    return True


def test_gguf_block_layout(args) -> str:
    """Hand-made blocks, values computed from the spec by hand."""
    d = np.float16(0.5).tobytes()
    q4 = d + bytes((j & 0xF) | (((15 - j) & 0xF) << 4) for j in range(16))
    want4 = [0.5 * (j - 8) for j in range(16)] + [0.5 * (15 - j - 8) for j in range(16)]
    q8 = np.float16(0.25).tobytes() + np.arange(-16, 16, dtype=np.int8).tobytes()
    want8 = [0.25 * v for v in range(-16, 16)]
    got4 = gr.dequantize(np.frombuffer(q4, dtype=np.uint8), gr.GGML_Q4_0, 32)
    got8 = gr.dequantize(np.frombuffer(q8, dtype=np.uint8), gr.GGML_Q8_0, 32)
    assert got4.tolist() == want4, got4
    assert got8.tolist() == want8, got8
    bf = gr.dequantize(np.frombuffer(struct.pack("<HH", 0x3F80, 0xC020), dtype=np.uint8), gr.GGML_BF16, 2)
    assert bf.tolist() == [1.0, -2.5]
    return "Q4_0 nibble order, Q8_0, BF16"


def test_gguf_roundtrip(args) -> str:
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        d = make_fixture(Path(tmp) / "hf", "--seed", "11", "--vocab", "320", "--untied")
        config, weights = ref.load_hf(d)
        tokens = [3, 14, 15, 92, 65, 35, 89, 79, 32, 38]
        want = ref.forward(config, weights, tokens)
        for kind, align in (("F32", 32), ("F16", 64), ("BF16", 32), ("Q8_0", 32), ("Q4_0", 128)):
            path = Path(tmp) / f"m-{kind}.gguf"
            expect = fixture_to_gguf(config, weights, path, kind, align)
            g = gr.GGUFFile(path)
            m = g.metadata
            assert m["test.u64"] == 2 ** 63 + 5 and m["test.i32"] == -2 ** 31 and m["test.bool"] is True
            assert m["test.strings"] == ["a", "", "é中", "<|im_end|>"]
            assert m["test.nested"] == [[1, -2], []] and m["test.bools"] == [True, False]
            assert m["test.f32s"] == [0.5, -1.25] and m["test.f64"] == 0.1 and m["test.i8"] == -100
            assert g.alignment == align
            for name, val in expect.items():
                assert np.array_equal(g.tensor(name), val), f"{kind}: {name} reads back wrong"
            gc, gw = ref.load_gguf(path)
            assert configs_match(gc, config), f"{kind}: config {gc} != {config}"
            rel = np.abs(ref.forward(gc, gw, tokens) - want).max() / np.abs(want).max()
            if kind == "F32":
                assert rel < 1e-12, f"F32 GGUF logits differ from HF by {rel:.3g}"
            notes.append(f"{kind} rel {rel:.1e}")
    return ", ".join(notes)


def test_gguf_file(args) -> str:
    if args.gguf is None:
        raise Skip("no --gguf FILE given")
    g = gr.GGUFFile(args.gguf)
    types = {t.type_name for t in g.tensors.values() if len(t.ne) == 2}
    config, weights = ref.load_gguf(args.gguf)
    hf = args.gguf_hf or kjv_dir(args.shared_dir)
    hconfig, hweights = ref.load_hf(hf)
    assert configs_match(config, hconfig), f"GGUF config {config} != HF config {hconfig}"
    tokens = [641, 279, 7167, 4264, 3465] if config.vocab > 7167 else [1, 2, 3, 4, 5]
    got = ref.forward(config, weights, tokens)
    want = ref.forward(hconfig, hweights, tokens)
    diff = float(np.abs(got - want).max())
    top1 = int((got.argmax(-1) == want.argmax(-1)).sum())
    note = f"{'/'.join(sorted(types))}: max abs diff {diff:.3g}, top-1 agree {top1}/{len(tokens)}"
    if types <= {"F32", "BF16"}:
        assert diff < 1e-3, note
    elif types <= {"F32", "BF16", "F16"}:
        assert diff < 2e-2, note
    return note


TESTS: list[Callable] = [
    test_goldens_full_logits, test_goldens_top10, test_goldens_greedy,
    test_fixture_single_vs_sharded, test_fixture_variants, test_fixture_deterministic_and_bf16,
    test_gguf_block_layout, test_gguf_roundtrip, test_gguf_file,
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared-dir", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--gguf", type=Path, help="a qwen2 GGUF to check against --gguf-hf")
    ap.add_argument("--gguf-hf", type=Path, help="HF directory the --gguf file was converted from")
    ap.add_argument("--all-prompts", action="store_true", help="greedy check on all goldens prompts")
    ap.add_argument("-k", dest="only", help="run only tests whose name contains this")
    args = ap.parse_args()
    passed = failed = skipped = 0
    for test in TESTS:
        if args.only and args.only not in test.__name__:
            continue
        t0 = time.time()
        try:
            note = test(args)
            passed += 1
            print(f"PASS {test.__name__} ({time.time() - t0:.1f}s): {note}", flush=True)
        except Skip as e:
            skipped += 1
            print(f"SKIP {test.__name__}: {e}", flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print(f"FAIL {test.__name__} ({time.time() - t0:.1f}s): {e}", flush=True)
            traceback.print_exc()
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
