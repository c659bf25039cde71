#!/usr/bin/env bash
# qwen-cli and qwen-inspect end to end: one-shot, an interactive session through a pipe and
# through tmux, --stats, and the errors and exit codes for bad input.
#   test_cli.sh QWEN_CLI QWEN_INSPECT FIXTURE_DIR
set -uo pipefail
cli=$1 inspect=$2 fx=$3
model="$fx/tiny-f32.q8_0.gguf"
source "$(dirname "${BASH_SOURCE[0]}")/check.sh"

# One-shot chat, greedy: deterministic, and --stats reports on stderr.
# (The random tiny model answers mostly in whitespace: keep it, with a sentinel.)
out=$("$cli" -m "$model" -p "Hello" -n 16 --temp 0 --stats 2>"$fx/cli.err"; echo "rc=$?")
err=$(cat "$fx/cli.err")
check "one-shot exits 0" contains "$out" "rc=0"
check "one-shot prints an answer" test "${#out}" -gt 5
check "--stats shows TTFT" contains "$err" "TTFT"
check "--stats shows decode speed" contains "$err" "decode"
check "--stats shows peak RSS" contains "$err" "peak RSS"
again=$("$cli" -m "$model" -p "Hello" -n 16 --temp 0 2>/dev/null; echo "rc=$?")
check "greedy one-shot is reproducible" test "$out" = "$again"
seeded1=$("$cli" -m "$model" -p "Hello" -n 16 --temp 2 --top-k 0 --seed 5 2>/dev/null)
seeded2=$("$cli" -m "$model" -p "Hello" -n 16 --temp 2 --top-k 0 --seed 5 2>/dev/null)
check "a fixed seed reproduces sampled text" test "$seeded1" = "$seeded2"
raw=$("$cli" -m "$model" -p "Once upon a time" --raw -n 8 --temp 0 2>/dev/null); rc=$?
check "--raw completion exits 0" test "$rc" = 0

# Interactive through a pipe: two turns, a reset, a third turn; --stats after each answer.
piped=$(printf 'first question\nsecond question\n/reset\nthird\n/exit\n' | "$cli" -m "$model" -n 8 --temp 0 --stats 2>"$fx/cli.err"); rc=$?
err=$(cat "$fx/cli.err")
check "piped session exits 0" test "$rc" = 0
check "piped session: /reset acknowledged" contains "$piped" "(new conversation)"
check "piped session: three answers with stats" test "$(grep -c TTFT <<<"$err")" = 3
check "piped session: second turn reuses the cache" bash -c "grep TTFT <<<'$err' | sed -n 2p | grep -vq '(0 reused'"

# Interactive in a real terminal (tmux): the prompt, an answer, /exit.
if command -v tmux >/dev/null; then
  sock="qwen-cli-test-$$"
  tmux -L "$sock" new-session -d -x 120 -y 30 "$cli -m $model -n 8 --temp 0; echo EXITED:\$?; sleep 30"
  sleep 1
  tmux -L "$sock" send-keys "hi there" Enter
  for _ in $(seq 1 50); do
    screen=$(tmux -L "$sock" capture-pane -p)
    [ "$(grep -c '^> ' <<<"$screen")" -ge 2 ] && break
    sleep 0.2
  done
  tmux -L "$sock" send-keys "/exit" Enter
  sleep 1
  screen=$(tmux -L "$sock" capture-pane -p)
  tmux -L "$sock" kill-server 2>/dev/null
  check "tmux: banner" contains "$screen" "Chat with"
  check "tmux: prompt shown again after the answer" test "$(grep -c '^> ' <<<"$screen")" -ge 2
  check "tmux: /exit exits 0" contains "$screen" "EXITED:0"
else
  echo "SKIP: tmux not installed; terminal session not tested"
fi

# Bad input: clear messages, non-zero exits.
err=$("$cli" 2>&1 >/dev/null); rc=$?
check "no model: exit 2" test "$rc" = 2
check "no model: says so" contains "$err" "no model given"
err=$("$cli" -m /nonexistent.gguf -p hi 2>&1 >/dev/null); rc=$?
check "missing model: exit 1" test "$rc" = 1
check "missing model: names the path" contains "$err" "/nonexistent.gguf"
err=$("$cli" -m "$fx/tokens.txt" -p hi 2>&1 >/dev/null); rc=$?
check "not a GGUF: exit 1" test "$rc" = 1
check "not a GGUF: says so" contains "$err" "not a GGUF file"
err=$("$cli" -m "$model" -p hi --temp -1 2>&1 >/dev/null); rc=$?
check "bad temperature: exit 2" test "$rc" = 2
check "bad temperature: names it" contains "$err" "temperature"
err=$("$cli" -m "$model" -p hi -c 100000000 2>&1 >/dev/null); rc=$?
check "context too large: exit 2" test "$rc" = 2
check "context too large: says so" contains "$err" "larger than the model allows"
err=$("$cli" -m "$model" --top-k abc 2>&1 >/dev/null); rc=$?
check "non-numeric option: exit 2" test "$rc" = 2
err=$("$cli" -m "$model" --frobnicate 2>&1 >/dev/null); rc=$?
check "unknown option: exit 2" test "$rc" = 2
help=$("$cli" --help); rc=$?
check "--help exits 0" test "$rc" = 0
for opt in --system --raw --temp --top-k --top-p --min-p --repeat-penalty --seed --stop --stats -t -c -n; do
  check "--help documents $opt" contains "$help" "$opt"
done

# qwen-inspect: human and JSON output, and a bad file.
txt=$("$inspect" "$model"); rc=$?
check "inspect exits 0" test "$rc" = 0
check "inspect lists token_embd" contains "$txt" "token_embd.weight"
check "inspect shows the architecture" contains "$txt" "general.architecture"
json=$("$inspect" "$model" --json)
check "inspect --json is JSON" contains "$json" '"tensors"'
err=$("$inspect" "$fx/tokens.txt" 2>&1); rc=$?
check "inspect of a bad file: exit 1" test "$rc" = 1

finish
