#!/usr/bin/env bash
# Does continuous batching pay? Aggregate decode tokens/s of qwen-server with 8 concurrent
# streams against 1, and the time to first token of a follow-up chat turn against the first turn.
#
#   scripts/bench-server.sh BUILD_DIR [MODEL.gguf]
#
# Without MODEL, a random model of the Qwen2.5-0.5B shape is written to BUILD_DIR/bench/ first
# (tools/qwen-random-model): the numbers measure the engine, not the answers.
set -euo pipefail
build=${1:?usage: bench-server.sh BUILD_DIR [MODEL.gguf]}
model=${2:-$build/bench/qwen05b-random.q8_0.gguf}
if [[ ! -f $model ]]; then
  mkdir -p "$(dirname "$model")"
  "$build/tools/qwen-random-model/qwen-random-model" "$model" --quiet
fi
exec python3 "$(dirname "$0")/bench_server.py" "$build/tools/qwen-server/qwen-server" "$model" "${@:3}"
