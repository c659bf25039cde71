"""Aggregate decode throughput of qwen-server at 1 and 8 concurrent streams, and follow-up TTFT.

usage: bench_server.py QWEN_SERVER MODEL.gguf [--tokens N] [--threads N]
"""
import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "server"))
from server_util import Server  # noqa: E402


def one_stream(s, prompt, tokens, out):
    body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": tokens, "temperature": 0,
            "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}}
    t0 = time.monotonic()
    first = None
    usage = None
    for e in s.stream("/v1/chat/completions", body):
        if e == "[DONE]":
            break
        if first is None and any(c.get("delta", {}).get("content") for c in e["choices"]):
            first = time.monotonic()
        usage = e.get("usage") or usage
    out.append((t0, first, time.monotonic(), usage["completion_tokens"]))


def run(s, streams, tokens):
    out = []
    threads = [threading.Thread(target=one_stream, args=(s, "Stream %d: tell me a long story." % i, tokens, out))
               for i in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(1800)
    # Decode phase: from the last stream's first token to the first stream's end, every stream
    # decoding; tokens counted over each stream's own decode time.
    total = sum(n - 1 for *_, n in out)
    t_first = min(f for _, f, _, _ in out)
    t_end = max(e for _, _, e, _ in out)
    return total / (t_end - t_first), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("model")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    with Server(a.server, a.model, "--slots", "8", "--ctx", "1024", "--threads", str(a.threads)) as s:
        run(s, 1, 8)  # warm-up: weights paged in
        one, _ = run(s, 1, a.tokens)
        eight, _ = run(s, 8, a.tokens)
        print("aggregate decode tokens/s: 1 stream %.1f, 8 streams %.1f (x%.2f)" % (one, eight, eight / one))

        # Follow-up turn: the first turn's prompt is in the slot's cache, only the new turn runs.
        long_user = "Here is some context. " * 60
        conv = [{"role": "user", "content": long_user}]
        def ttft(messages):
            t0 = time.monotonic()
            text = ""
            usage = None
            for e in s.stream("/v1/chat/completions", {"messages": messages, "max_tokens": 8, "temperature": 0,
                                                       "ignore_eos": True, "stream": True,
                                                       "stream_options": {"include_usage": True}}):
                if e == "[DONE]":
                    break
                for c in e["choices"]:
                    if c.get("delta", {}).get("content") and t0 is not None:
                        first = time.monotonic() - t0
                        t0 = None
                    text += c.get("delta", {}).get("content") or ""
                usage = e.get("usage") or usage
            return first, text, usage
        t1, answer, u1 = ttft(conv)
        conv += [{"role": "assistant", "content": answer}, {"role": "user", "content": "And then?"}]
        t2, _, u2 = ttft(conv)
        print("TTFT first turn %.0f ms (%d prompt tokens), follow-up %.0f ms (%d prompt tokens, %d reused)"
              % (t1 * 1e3, u1["prompt_tokens"], t2 * 1e3, u2["prompt_tokens"], u2["prompt_tokens_details"]["cached_tokens"]))


if __name__ == "__main__":
    main()
