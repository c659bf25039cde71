#!/usr/bin/env bash
# Server fairness and throughput, side by side: each qwen-server binary given runs the same
# benchmark (benchmarks/server/bench_server.py) in turn, round after round, so host noise hits
# them alike. Prints one JSON line per run, then the median of each figure per binary.
#
#   scripts/bench-server.sh MODEL.gguf [ROUNDS] SERVER [SERVER...]
#   e.g. scripts/bench-server.sh /tmp/r05b.q8_0.gguf 3 build/tools/qwen-server/qwen-server old/qwen-server
#
# The model: `qwen-random-model OUT.gguf` gives the exact Qwen2.5-0.5B shape. Loopback only.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
model=$1
rounds=$2
shift 2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((r = 1; r <= rounds; r++)); do
  for server in "$@"; do
    python3 "$here/benchmarks/server/bench_server.py" --server "$server" --model "$model" --label "$server" | tee -a "$out"
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for label in dict.fromkeys(r["label"] for r in runs):
    mine = [r for r in runs if r["label"] == label]
    med = lambda xs: round(statistics.median(xs), 2)
    print(f"{label}: {len(mine)} runs; worst largest/median gap {med([r['fairness']['worst_ratio'] for r in mine])}x, "
          f"join prefill {med([r['fairness']['join_seconds'] for r in mine])} s, "
          f"8 streams {med([r['throughput']['tokens_per_s'] for r in mine])} tok/s (medians)")
PY
