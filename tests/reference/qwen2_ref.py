#!/usr/bin/env python3
"""Independent NumPy reference of the Hugging Face Qwen2 forward pass.

Written from the Hugging Face Qwen2 semantics (Qwen2ForCausalLM), not from the
engine's C++ code, so that it can serve as the test oracle for it:

  x = E[tokens]
  per layer:  h = RMSNorm(x) * w_attn_norm
              q = Wq h + bq, k = Wk h + bk, v = Wv h + bv     (biases on q/k/v only)
              q, k = RoPE(q), RoPE(k)     NeoX / rotate_half form over the full head_dim
              x += Wo Attn(q, k, v)       causal softmax(q.k / sqrt(head_dim)), GQA:
                                          query head h reads kv head h // (heads / kv_heads)
              h = RMSNorm(x) * w_ffn_norm
              x += Wdown (silu(Wgate h) * (Wup h))
  logits = (lm_head or E) . (RMSNorm(x) * w_output_norm)

Precision: every weight is upcast to float64 and all arithmetic is float64 (RoPE
angles included), which makes this a "truth" at least as accurate as any fp32
implementation; the engine (fp32) is compared against it with a relative tolerance.

Weights come from a Hugging Face directory (config.json + model.safetensors or
sharded safetensors with model.safetensors.index.json; BF16/F16/F32) or from a
GGUF file (F32/F16/BF16/Q8_0/Q4_0, see gguf_reader.py).  Both loaders return the
same internal form: a Qwen2Config and a dict keyed by the GGUF tensor names
(token_embd.weight, blk.N.attn_q.weight, ..., output.weight only when untied),
each a float64 array in numpy row-major [out, in] shape.

CLI:
  qwen2_ref.py (--hf DIR | --gguf FILE) (--tokens 1,2,3 | --tokens-file F)
               [--out LOGITS.f32] [--last-only] [--greedy N]
--out writes raw little-endian float32 logits [n_tokens][vocab] (row-major, no
header), or only the last row with --last-only.  --greedy N prints N greedy ids
(argmax over the full vocab, recomputed from scratch every step).
A --tokens-file holds either little-endian uint32 ids or text ids separated by
commas / whitespace (detected; force with --tokens-format).
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gguf_reader import GGUFFile  # noqa: E402


@dataclass(frozen=True)
class Qwen2Config:
    vocab: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    rope_theta: float
    rms_eps: float
    tied: bool
    context_length: int

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


Weights = dict[str, np.ndarray]

# HF per-layer suffix -> GGUF per-layer suffix (the internal naming)
HF_LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
HF_GLOBAL_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}


def expected_shapes(c: Qwen2Config) -> dict[str, tuple[int, ...]]:
    """Internal name -> numpy shape, for every tensor the model needs."""
    H, I, V, hd = c.hidden, c.intermediate, c.vocab, c.head_dim
    q, kv = c.heads * hd, c.kv_heads * hd
    shapes: dict[str, tuple[int, ...]] = {"token_embd.weight": (V, H), "output_norm.weight": (H,)}
    if not c.tied:
        shapes["output.weight"] = (V, H)
    per_layer = {
        "attn_norm.weight": (H,), "attn_q.weight": (q, H), "attn_q.bias": (q,),
        "attn_k.weight": (kv, H), "attn_k.bias": (kv,), "attn_v.weight": (kv, H), "attn_v.bias": (kv,),
        "attn_output.weight": (H, q), "ffn_norm.weight": (H,),
        "ffn_gate.weight": (I, H), "ffn_up.weight": (I, H), "ffn_down.weight": (H, I),
    }
    for i in range(c.layers):
        for k, s in per_layer.items():
            shapes[f"blk.{i}.{k}"] = s
    return shapes


def check_weights(c: Qwen2Config, w: Weights, source: str) -> None:
    """Every needed tensor present with the shape the config implies."""
    for name, shape in expected_shapes(c).items():
        if name not in w:
            raise ValueError(f"{source}: missing tensor {name}")
        if tuple(w[name].shape) != shape:
            raise ValueError(f"{source}: tensor {name} has shape {tuple(w[name].shape)}, config implies {shape}")


# ----------------------------------------------------------------------------
# Hugging Face directory


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """All tensors of one .safetensors file as float64 arrays."""
    data = np.memmap(path, dtype=np.uint8, mode="r")
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (hlen,) = struct.unpack("<Q", bytes(data[:8]))
    if 8 + hlen > len(data):
        raise ValueError(f"{path}: header length {hlen} runs past end of file")
    header = json.loads(bytes(data[8:8 + hlen]).decode("utf-8"))
    base = 8 + hlen
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        if not 0 <= begin <= end <= len(data) - base:
            raise ValueError(f"{path}: tensor {name}: data_offsets {begin},{end} out of range")
        raw = np.ascontiguousarray(data[base + begin:base + end])
        dt = info["dtype"]
        if dt == "F32":
            arr = raw.view("<f4")
        elif dt == "F16":
            arr = raw.view("<f2")
        elif dt == "BF16":
            arr = (raw.view("<u2").astype(np.uint32) << np.uint32(16)).view(np.float32)
        elif dt == "F64":
            arr = raw.view("<f8")
        else:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {dt}")
        if arr.size != int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"{path}: tensor {name}: {arr.size} elements for shape {shape}")
        out[name] = arr.astype(np.float64).reshape(shape)
    return out


def config_from_hf(cfg: dict) -> Qwen2Config:
    return Qwen2Config(
        vocab=int(cfg["vocab_size"]),
        hidden=int(cfg["hidden_size"]),
        layers=int(cfg["num_hidden_layers"]),
        heads=int(cfg["num_attention_heads"]),
        kv_heads=int(cfg.get("num_key_value_heads", cfg["num_attention_heads"])),
        intermediate=int(cfg["intermediate_size"]),
        rope_theta=float(cfg.get("rope_theta", 10000.0)),
        rms_eps=float(cfg.get("rms_norm_eps", 1e-6)),
        tied=bool(cfg.get("tie_word_embeddings", False)),
        context_length=int(cfg.get("max_position_embeddings", 32768)),
    )


def hf_to_internal(name: str) -> str | None:
    """HF tensor name -> internal name; None for tensors the forward ignores."""
    if name in HF_GLOBAL_NAMES:
        return HF_GLOBAL_NAMES[name]
    parts = name.split(".", 3)
    if len(parts) == 4 and parts[0] == "model" and parts[1] == "layers" and parts[2].isdigit():
        if parts[3] in HF_LAYER_NAMES:
            return f"blk.{parts[2]}.{HF_LAYER_NAMES[parts[3]]}"
        if parts[3].endswith("rotary_emb.inv_freq"):
            return None  # a buffer some checkpoints carry; recomputed from rope_theta
    raise ValueError(f"unexpected tensor {name}")


def load_hf(model_dir: str | Path) -> tuple[Qwen2Config, Weights]:
    """Read a Hugging Face Qwen2 directory (single or sharded safetensors)."""
    d = Path(model_dir)
    cfg_json = json.loads((d / "config.json").read_text())
    if cfg_json.get("model_type", "qwen2") != "qwen2":
        raise ValueError(f"{d}: model_type {cfg_json.get('model_type')!r} is not qwen2")
    config = config_from_hf(cfg_json)
    index = d / "model.safetensors.index.json"
    if (d / "model.safetensors").is_file():
        files = [d / "model.safetensors"]
    elif index.is_file():
        files = [d / f for f in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
    else:
        raise ValueError(f"{d}: neither model.safetensors nor model.safetensors.index.json")
    weights: Weights = {}
    for f in files:
        for name, arr in _read_safetensors(f).items():
            internal = hf_to_internal(name)
            if internal is None or (internal == "output.weight" and config.tied):
                continue
            if internal in weights:
                raise ValueError(f"{f}: tensor {name} appears twice")
            weights[internal] = arr
    check_weights(config, weights, str(d))
    return config, weights


# ----------------------------------------------------------------------------
# GGUF


def load_gguf(path: str | Path) -> tuple[Qwen2Config, Weights]:
    """Read a qwen2 GGUF file; quantized tensors are dequantized to float64."""
    g = GGUFFile(path)
    m = g.metadata
    arch = m.get("general.architecture")
    if arch != "qwen2":
        raise ValueError(f"{path}: general.architecture {arch!r} is not qwen2")

    def key(k: str):
        if f"qwen2.{k}" not in m:
            raise ValueError(f"{path}: missing metadata qwen2.{k}")
        return m[f"qwen2.{k}"]

    if "token_embd.weight" not in g.tensors:
        raise ValueError(f"{path}: missing tensor token_embd.weight")
    heads = int(key("attention.head_count"))
    config = Qwen2Config(
        vocab=g.tensors["token_embd.weight"].shape[0],
        hidden=int(key("embedding_length")),
        layers=int(key("block_count")),
        heads=heads,
        kv_heads=int(m.get("qwen2.attention.head_count_kv", heads)),
        intermediate=int(key("feed_forward_length")),
        rope_theta=float(m.get("qwen2.rope.freq_base", 10000.0)),
        rms_eps=float(key("attention.layer_norm_rms_epsilon")),
        tied="output.weight" not in g.tensors,
        context_length=int(key("context_length")),
    )
    kl = m.get("qwen2.attention.key_length")
    if kl is not None and int(kl) != config.head_dim:
        raise ValueError(f"{path}: key_length {kl} != embedding_length / head_count {config.head_dim}")
    weights = {name: g.tensor(name).astype(np.float64) for name in expected_shapes(config) if name in g.tensors}
    check_weights(config, weights, str(path))
    return config, weights


# ----------------------------------------------------------------------------
# Forward


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    """x / sqrt(mean(x^2) + eps) * w over the last axis."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope_cos_sin(n: int, head_dim: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """cos, sin [n, head_dim] of concat(freqs, freqs), freqs = pos * theta^(-2i/d)."""
    inv_freq = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    freqs = np.outer(np.arange(n, dtype=np.float64), inv_freq)        # [n, d/2]
    emb = np.concatenate([freqs, freqs], axis=-1)                      # [n, d]
    return np.cos(emb), np.sin(emb)


def rotate_half(x: np.ndarray) -> np.ndarray:
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """x [T, heads, d]; cos/sin [T, d] broadcast over heads."""
    return x * cos[:, None, :] + rotate_half(x) * sin[:, None, :]


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def attention(c: Qwen2Config, w: Weights, i: int, h: np.ndarray,
              cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Causal GQA self-attention of layer i on normed input h [T, H] -> [T, H]."""
    T, hd = h.shape[0], c.head_dim
    p = f"blk.{i}."
    q = (h @ w[p + "attn_q.weight"].T + w[p + "attn_q.bias"]).reshape(T, c.heads, hd)
    k = (h @ w[p + "attn_k.weight"].T + w[p + "attn_k.bias"]).reshape(T, c.kv_heads, hd)
    v = (h @ w[p + "attn_v.weight"].T + w[p + "attn_v.bias"]).reshape(T, c.kv_heads, hd)
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    group = c.heads // c.kv_heads
    k = np.repeat(k, group, axis=1)                                    # head h -> kv head h // group
    v = np.repeat(v, group, axis=1)
    scores = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd)             # [heads, T, T]
    scores = np.where(np.tril(np.ones((T, T), dtype=bool)), scores, -np.inf)
    scores -= scores.max(axis=-1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(axis=-1, keepdims=True)
    out = np.einsum("hts,shd->thd", probs, v).reshape(T, c.heads * hd)
    return out @ w[p + "attn_output.weight"].T


def forward(config: Qwen2Config, weights: Weights, tokens, last_only: bool = False) -> np.ndarray:
    """Logits float64 [T, vocab] (or [1, vocab] with last_only) for one sequence from position 0."""
    c, w = config, weights
    tokens = np.asarray(tokens, dtype=np.int64)
    if tokens.ndim != 1 or tokens.size == 0:
        raise ValueError("tokens must be a non-empty 1-D sequence")
    if tokens.min() < 0 or tokens.max() >= c.vocab:
        raise ValueError(f"token id out of range [0, {c.vocab})")
    x = w["token_embd.weight"][tokens]                                 # [T, H]
    cos, sin = rope_cos_sin(len(tokens), c.head_dim, c.rope_theta)
    for i in range(c.layers):
        p = f"blk.{i}."
        x = x + attention(c, w, i, rms_norm(x, w[p + "attn_norm.weight"], c.rms_eps), cos, sin)
        h = rms_norm(x, w[p + "ffn_norm.weight"], c.rms_eps)
        gate = h @ w[p + "ffn_gate.weight"].T                          # [T, I]
        up = h @ w[p + "ffn_up.weight"].T
        x = x + (silu(gate) * up) @ w[p + "ffn_down.weight"].T
    if last_only:
        x = x[-1:]
    x = rms_norm(x, w["output_norm.weight"], c.rms_eps)
    head = w["token_embd.weight"] if c.tied else w["output.weight"]   # [V, H]
    return x @ head.T


def greedy(config: Qwen2Config, weights: Weights, prompt, n: int) -> list[int]:
    """n argmax ids, each recomputed from scratch over the whole sequence (no cache)."""
    seq = list(prompt)
    out: list[int] = []
    for _ in range(n):
        nxt = int(np.argmax(forward(config, weights, seq, last_only=True)[0]))
        out.append(nxt)
        seq.append(nxt)
    return out


# ----------------------------------------------------------------------------
# CLI


def read_tokens_file(path: Path, fmt: str) -> list[int]:
    """uint32 LE ids or text ids; 'auto' picks text when the bytes are only digits and separators."""
    raw = path.read_bytes()
    if fmt == "auto":
        fmt = "text" if raw and all(b in b"0123456789, \t\r\n" for b in raw) else "u32"
    if fmt == "text":
        return [int(t) for t in raw.decode("ascii").replace(",", " ").split()]
    if len(raw) % 4:
        raise ValueError(f"{path}: size {len(raw)} is not a multiple of 4 (uint32 ids)")
    return np.frombuffer(raw, dtype="<u4").astype(np.int64).tolist()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="NumPy reference Qwen2 forward (float64).")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--hf", type=Path, help="Hugging Face model directory")
    src.add_argument("--gguf", type=Path, help="GGUF model file")
    toks = ap.add_mutually_exclusive_group(required=True)
    toks.add_argument("--tokens", help="comma-separated token ids")
    toks.add_argument("--tokens-file", type=Path, help="uint32 LE ids or text ids")
    ap.add_argument("--tokens-format", choices=("auto", "u32", "text"), default="auto")
    ap.add_argument("--out", type=Path, help="raw little-endian float32 logits [n_tokens][vocab]")
    ap.add_argument("--last-only", action="store_true", help="write only the last position's logits")
    ap.add_argument("--greedy", type=int, default=0, metavar="N", help="print N greedy continuation ids")
    a = ap.parse_args(argv)

    tokens = ([int(t) for t in a.tokens.split(",") if t.strip()] if a.tokens is not None
              else read_tokens_file(a.tokens_file, a.tokens_format))
    config, weights = load_hf(a.hf) if a.hf else load_gguf(a.gguf)
    if a.out:
        logits = forward(config, weights, tokens, last_only=a.last_only)
        logits.astype("<f4").tofile(a.out)
    if a.greedy > 0:
        print(",".join(map(str, greedy(config, weights, tokens, a.greedy))))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, OSError, KeyError) as e:
        print(f"qwen2_ref: error: {e}", file=sys.stderr)
        sys.exit(1)
