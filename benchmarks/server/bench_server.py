#!/usr/bin/env python3
"""Fairness and throughput of a running qwen-server, measured from its clients (stdlib only).

  bench_server.py --server build/tools/qwen-server/qwen-server --model MODEL.gguf [--label L]

Fairness: `--streams` streaming chat completions decode; once each has tokens flowing, a
completion whose prompt is about `--join-tokens` tokens joins. For every stream, the gaps between
consecutive tokens: the median over its whole run (and over its run before the join), the 95th
percentile and the largest while the long prompt is being prefilled, and largest / median. A scheduler that prefills the prompt in one piece shows a largest gap
of the whole prefill; one with a per-step token budget, a few median gaps.

Throughput: `--batch` non-streaming completions of `--batch-tokens` tokens each sent at once;
aggregate generated tokens per second of wall time.

Prints one JSON object. Traffic goes to 127.0.0.1 only; every loop is bounded."""
import argparse
import http.client
import json
import re
import statistics
import subprocess
import sys
import threading
import time


def start_server(args):
    cmd = [args.server, "-m", args.model, "--port", "0", "--slots", str(args.slots), "--threads", str(args.threads)]
    cmd += args.server_arg
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        line = proc.stderr.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if m:
            threading.Thread(target=lambda: proc.stderr.read(), daemon=True).start()
            return proc, int(m.group(1))
        if proc.poll() is not None:
            break
    proc.kill()
    sys.exit("bench_server: the server did not start")


def post(port, path, body, timeout=600):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    return conn, conn.getresponse()


def stream(port, max_tokens, times, stop):
    """A streaming chat: appends the arrival time of every content chunk to `times`."""
    body = {"messages": [{"role": "user", "content": "Tell me a long story."}], "max_tokens": max_tokens,
            "stream": True, "temperature": 0, "ignore_eos": True}
    conn, res = post(port, "/v1/chat/completions", body)
    while not stop.is_set():
        line = res.readline()
        if not line:
            break
        if line.startswith(b"data: {") and b'"content":"' in line and b'"content":""' not in line:
            times.append(time.monotonic())
    conn.close()


def fairness(port, args):
    stop = threading.Event()
    times = [[] for _ in range(args.streams)]
    threads = [threading.Thread(target=stream, args=(port, args.stream_tokens, times[i], stop), daemon=True)
               for i in range(args.streams)]
    for t in threads:
        t.start()
    deadline = time.time() + 120
    while any(len(t) < 10 for t in times) and time.time() < deadline:
        time.sleep(0.05)
    words = ["river", "stone", "garden", "window", "silver", "morning", "candle", "harbor", "forest", "letter"]
    prompt = " ".join(words[i % len(words)] + str(i % 7) for i in range(args.join_tokens // 2))
    joined = time.monotonic()
    conn, res = post(port, "/v1/completions", {"prompt": prompt, "max_tokens": 1, "temperature": 0})
    answer = json.loads(res.read())
    conn.close()
    done = time.monotonic()
    time.sleep(1.0)
    stop.set()
    report = {"join_prompt_tokens": answer.get("usage", {}).get("prompt_tokens"), "join_seconds": round(done - joined, 2),
              "streams": []}
    for t in times:
        gaps = [b - a for a, b in zip(t, t[1:])]
        during = [b - a for a, b in zip(t, t[1:]) if b > joined and a < done]
        steady = [b - a for a, b in zip(t, t[1:]) if b <= joined]
        if not gaps or not steady:
            continue
        median = statistics.median(gaps)  # over the stream's whole run
        median_before = statistics.median(steady)
        worst = max(during) if during else max(gaps)
        at = [round(b - joined, 2) for a, b in zip(t, t[1:]) if b > joined and a < done and b - a == worst]
        p95 = sorted(during)[int(0.95 * (len(during) - 1))] if during else worst
        report["streams"].append({"median_gap_ms": round(1e3 * median, 1), "median_gap_before_join_ms": round(1e3 * median_before, 1), "largest_gap_during_join_ms": round(1e3 * worst, 1),
                                  "p95_gap_during_join_ms": round(1e3 * p95, 1), "largest_gap_at_s": at[0] if at else None,
                                  "ratio": round(worst / median, 2), "tokens": len(t)})
    ratios = [s["ratio"] for s in report["streams"]]
    report["worst_ratio"] = max(ratios) if ratios else None
    return report


def throughput(port, args):
    results = [None] * args.batch

    def one(i):
        conn, res = post(port, "/v1/completions", {"prompt": "Once upon a time " * (i + 1), "max_tokens": args.batch_tokens,
                                                   "temperature": 0, "ignore_eos": True})
        results[i] = json.loads(res.read())
        conn.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(args.batch)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    wall = time.monotonic() - t0
    tokens = sum(r["usage"]["completion_tokens"] for r in results if r and "usage" in r)
    return {"requests": args.batch, "completion_tokens": tokens, "seconds": round(wall, 2),
            "tokens_per_s": round(tokens / wall, 1)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--label", default="")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--slots", type=int, default=8)
    p.add_argument("--streams", type=int, default=4)
    p.add_argument("--stream-tokens", type=int, default=1500)
    p.add_argument("--join-tokens", type=int, default=2000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--batch-tokens", type=int, default=64)
    p.add_argument("--skip", choices=["fairness", "throughput"], default=None)
    p.add_argument("--server-arg", action="append", default=[], help="passed to the server (repeat)")
    args = p.parse_args()
    proc, port = start_server(args)
    try:
        out = {"label": args.label}
        if args.skip != "fairness":
            out["fairness"] = fairness(port, args)
        if args.skip != "throughput":
            time.sleep(2.0)  # the fairness streams' slots free up
            out["throughput"] = throughput(port, args)
        print(json.dumps(out))
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
