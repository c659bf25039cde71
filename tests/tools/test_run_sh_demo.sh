#!/usr/bin/env bash
# scripts/run.sh without network and without QWEN_MODEL: it falls back to the small trained demo
# model tiny-qwen2-kjv of the shared data (converted once, then taken from the cache), says so in
# one line, and a cached Qwen2.5 download still wins. The hub is made unreachable with
# QWENEDGE_HF_ENDPOINT=http://127.0.0.1:9 (nothing listens there: refused at once).
#   test_run_sh_demo.sh SOURCE_DIR BUILD_DIR SHARED_DIR cli|server
# cli:    a prompt answered by qwen-cli, a second run reusing the cached conversion, QWENEDGE_OFFLINE,
#         a cached Qwen2.5 winning, and no demo model (the instructions, exit 2).
# server: scripts/run.sh --server --port 0: the URL line, GET /health and / 200, one chat
#         completion 200, SIGTERM exits 0.
# Exit 77 (skipped) when the shared data has no tiny-qwen2-kjv.
set -uo pipefail
src=$1 build=$2 shared=$3 mode=$4
demo_line="run.sh: Hugging Face is not reachable: running the 43 M-parameter demo model tiny-qwen2-kjv (trained on the King James Bible), not Qwen2.5; give a real model with QWEN_MODEL=/path/to/model.gguf or a Hugging Face folder"

# run.sh looks for the demo model beside the checkout (../shared); a shared folder configured
# elsewhere is passed on with QWENEDGE_DEMO_MODEL.
if [ -s "$src/../shared/models/tiny-qwen2-kjv/model.safetensors" ]; then
  unset QWENEDGE_DEMO_MODEL
elif [ -s "$shared/models/tiny-qwen2-kjv/model.safetensors" ]; then
  export QWENEDGE_DEMO_MODEL=$shared/models/tiny-qwen2-kjv
else
  echo "SKIP: no tiny-qwen2-kjv in $src/../shared/models or $shared/models"
  exit 77
fi

tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
cache=$tmp/cache
mkdir -p "$cache"
export QWENEDGE_BUILD_DIR=$build QWENEDGE_CACHE=$cache QWENEDGE_HF_ENDPOINT=http://127.0.0.1:9
unset QWEN_MODEL QWENEDGE_OFFLINE HF_ENDPOINT
cached=$cache/tiny-qwen2-kjv.q8_0.gguf
[ "$(uname -m)" = x86_64 ] && cached=$cache/tiny-qwen2-kjv.q8_0.il.gguf  # stored row-interleaved there
source "$(dirname "${BASH_SOURCE[0]}")/check.sh"
lines() { grep -cxF -- "$2" "$1"; }  # how many lines of file $1 are exactly $2
lacks() { ! grep -qF -- "$2" <<<"$1"; }  # whether text $1 does not hold $2

if [ "$mode" = cli ]; then
  "$src/scripts/run.sh" -p "And God said" -n 16 --temp 0 </dev/null >"$tmp/out" 2>"$tmp/err"
  rc=$?
  check "demo: exit 0 (rc=$rc)" test "$rc" = 0
  check "demo: the one line, once" test "$(lines "$tmp/err" "$demo_line")" = 1
  check "demo: converted into the cache" test -s "$cached"
  check "demo: answered the prompt" grep -q '[^[:space:]]' "$tmp/out"
  [ "$fail" = 0 ] || { echo "--- stdout ---"; cat "$tmp/out"; echo "--- stderr ---"; cat "$tmp/err"; }
  stamp=$(stat -c %Y "$cached" 2>/dev/null)
  sleep 1
  # The interactive chat this time, on standard input.
  printf 'In the beginning\n/exit\n' | "$src/scripts/run.sh" -n 8 --temp 0 >"$tmp/out2" 2>"$tmp/err2"
  rc=$?
  check "demo again: exit 0 (rc=$rc)" test "$rc" = 0
  check "demo again: the one line" test "$(lines "$tmp/err2" "$demo_line")" = 1
  check "demo again: cached file reused" test "$(stat -c %Y "$cached")" = "$stamp"
  check "demo again: no second conversion" lacks "$(cat "$tmp/err2")" "wrote "

  # QWENEDGE_OFFLINE with nothing cached: the demo model too, for that reason.
  out=$(QWENEDGE_OFFLINE=1 "$src/scripts/run.sh" -p hi -n 4 --temp 0 </dev/null 2>&1; echo "rc=$?")
  check "offline: exit 0" contains "$out" "rc=0"
  check "offline: the demo line" contains "$out" "run.sh: QWENEDGE_OFFLINE is set and Qwen2.5 is not cached: running the 43 M-parameter demo model tiny-qwen2-kjv"

  # No demo model either: today's instructions.
  out=$(QWENEDGE_DEMO_MODEL='' "$src/scripts/run.sh" </dev/null 2>&1; echo "rc=$?")
  check "no demo: exit 2" contains "$out" "rc=2"
  check "no demo: says the hub is unreachable" contains "$out" "Hugging Face cannot be reached"
  check "no demo: says how to provide a model" contains "$out" "QWEN_MODEL=/path/to/model.gguf"
  check "no demo: no demo line" lacks "$out" "demo model"

  # A complete cached Qwen2.5 download wins over the demo model (a generated model stands in).
  qwen=$cache/Qwen2.5-0.5B-Instruct
  mkdir -p "$qwen"
  for f in config.json generation_config.json tokenizer.json tokenizer_config.json model.safetensors; do
    ln -sf "$build/fixtures/hf/tiny-bf16/$f" "$qwen/$f"
  done
  out=$("$src/scripts/run.sh" -p hi -n 4 --temp 0 </dev/null 2>&1; echo "rc=$?")
  check "cached Qwen2.5: exit 0" contains "$out" "rc=0"
  check "cached Qwen2.5: no demo line" lacks "$out" "demo model"
  check "cached Qwen2.5: converted and used" test -s "${cached/tiny-qwen2-kjv/Qwen2.5-0.5B-Instruct}"
elif [ "$mode" = server ]; then
  "$src/scripts/run.sh" --server --port 0 --threads 1 --slots 1 </dev/null >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  port=
  for _ in $(seq 1200); do  # up to 2 minutes: install-deps, the build check and the conversion
    port=$(sed -n 's/^listening on port \([0-9][0-9]*\)$/\1/p' "$tmp/out")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  check "server: started" test -n "$port"
  if [ -n "$port" ]; then
    url=http://127.0.0.1:$port
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$url/health")
    check "server: GET /health 200 (got $code)" test "$code" = 200
    code=$(curl -s -o "$tmp/page" -w '%{http_code}' --max-time 30 "$url/")
    check "server: GET / 200 (got $code)" test "$code" = 200
    code=$(curl -s -o "$tmp/chat" -w '%{http_code}' --max-time 60 -H 'Content-Type: application/json' \
      -d '{"messages":[{"role":"user","content":"And God said"}],"max_tokens":8}' "$url/v1/chat/completions")
    check "server: chat completion 200 (got $code)" test "$code" = 200
    check "server: chat completion has a choice" grep -q '"choices"' "$tmp/chat"
    for _ in $(seq 50); do grep -q "^run.sh: web chat at" "$tmp/err" && break; sleep 0.1; done
    check "server: the URL line" test "$(lines "$tmp/err" "run.sh: web chat at $url/")" = 1
    check "server: the demo line, once" test "$(lines "$tmp/err" "$demo_line")" = 1
    check "server: cached the conversion" test -s "$cached"
  fi
  kill -TERM "$pid" 2>/dev/null
  wait "$pid"
  rc=$?
  pid=
  check "server: SIGTERM exits 0 (rc=$rc)" test "$rc" = 0
  [ "$fail" = 0 ] || { echo "--- stdout ---"; cat "$tmp/out"; echo "--- stderr ---"; cat "$tmp/err"; cat "$tmp/chat" 2>/dev/null; }
else
  echo "unknown mode $mode"
  exit 2
fi
finish
