#!/usr/bin/env bash
# qwen-bench end to end on a fixture model: the table, --json with depths, and usage errors.
#   test_bench.sh QWEN_BENCH FIXTURE_DIR
set -uo pipefail
bench=$1 fx=$2
model="$fx/tiny-f32.q8_0.gguf"
source "$(dirname "${BASH_SOURCE[0]}")/check.sh"

out=$("$bench" -m "$model" -p 4 -n 3 -t 1 -d 0,6 -r 1 --bandwidth-mib 8 2>&1; echo "rc=$?")
check "table run exits 0" contains "$out" "rc=0"
check "table has the depth column" contains "$out" "|   depth |"
check "row at depth 6" contains "$out" "| pp4    |       1 |       6 |"
check "row at depth 0" contains "$out" "| tg3    |       1 |       0 |"
check "decode row against the bandwidth limit" contains "$out" "% of"

json=$("$bench" -m "$model" -p 2 -n 2 -t 1 -d 5 -r 1 --bandwidth-mib 0 --json 2>/dev/null)
check "--json parses, rows at depth 5" python3 -c "
import json, sys
j = json.loads(sys.argv[1])
assert [r['depth'] for r in j['rows']] == [5, 5], j['rows']
assert j['context'] == 5 + 4 + 1, j['context']
" "$json"

err=$("$bench" -m "$model" -d -3 2>&1); rc=$?
check "negative depth: exit 2" test "$rc" = 2
check "negative depth: names the option" contains "$err" "-d expects an integer"
err=$("$bench" -m "$model" --depth "" 2>&1); rc=$?
check "empty depth list: exit 2" test "$rc" = 2
err=$("$bench" -m "$model" --frobnicate 2>&1); rc=$?
check "unknown option: exit 2" test "$rc" = 2
check "unknown option: named" contains "$err" "unknown option --frobnicate"
err=$("$bench" -m "$fx/missing.gguf" -p 2 -n 0 2>&1); rc=$?
check "missing model: exit 1" test "$rc" = 1
check "missing model: named" contains "$err" "missing.gguf"

finish
