#!/usr/bin/env bash
# scripts/run.sh end to end: with a Hugging Face folder (converted once, then taken from the
# cache), with a GGUF file, and with no model at all (offline, no demo model: a clear message, exit 2).
#   test_run_sh.sh SOURCE_DIR BUILD_DIR
set -uo pipefail
src=$1 build=$2
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
export QWENEDGE_BUILD_DIR=$build QWENEDGE_CACHE=$cache QWENEDGE_OFFLINE=1
cached=$cache/tiny-bf16.q8_0.gguf
[ "$(uname -m)" = x86_64 ] && cached=$cache/tiny-bf16.q8_0.il.gguf  # stored row-interleaved there
source "$(dirname "${BASH_SOURCE[0]}")/check.sh"

out=$(printf 'hello\n/exit\n' | QWEN_MODEL="$build/fixtures/hf/tiny-bf16" "$src/scripts/run.sh" -n 4 --temp 0 --stats 2>&1; echo "rc=$?")
check "hf folder: exit 0" grep -q "rc=0" <<<"$out"
check "hf folder: converted into the cache" test -s "$cached"
check "hf folder: answered with stats" grep -q "TTFT" <<<"$out"
stamp=$(stat -c %Y "$cached")
sleep 1
out=$(printf '/exit\n' | QWEN_MODEL="$build/fixtures/hf/tiny-bf16" "$src/scripts/run.sh" 2>&1; echo "rc=$?")
check "hf folder again: exit 0" grep -q "rc=0" <<<"$out"
check "hf folder again: cached file reused" test "$(stat -c %Y "$cached")" = "$stamp"

out=$(printf 'hi\n' | QWEN_MODEL="$build/fixtures/tiny-f32.q4_0.gguf" "$src/scripts/run.sh" -n 3 --temp 0 2>&1; echo "rc=$?")
check "gguf: exit 0" grep -q "rc=0" <<<"$out"

# (and no demo model: test_run_sh_demo.sh covers that one)
out=$(QWEN_MODEL='' QWENEDGE_DEMO_MODEL='' "$src/scripts/run.sh" </dev/null 2>&1; echo "rc=$?")
check "no model: exit 2" grep -q "rc=2" <<<"$out"
check "no model: says how to provide one" grep -q "QWEN_MODEL=/path/to/model.gguf" <<<"$out"
out=$(QWEN_MODEL=/nonexistent "$src/scripts/run.sh" </dev/null 2>&1; echo "rc=$?")
check "missing path: exit 2" grep -q "rc=2" <<<"$out"

finish
