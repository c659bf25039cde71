#!/usr/bin/env bash
# The README's main-job command: installs dependencies, builds, obtains a model, starts a chat.
#   scripts/run.sh                                  downloads Qwen2.5-0.5B-Instruct (once), converts it to Q8_0
#   QWEN_MODEL=/path/to/model.gguf scripts/run.sh   a qwen2 GGUF file
#   QWEN_MODEL=/path/to/hf-dir scripts/run.sh       a Hugging Face folder, converted once to Q8_0 and cached
#                                                   (row-interleaved on x86: no repack at load)
#   scripts/run.sh --server [qwen-server options]   the same model, served by qwen-server with its web chat
# Extra arguments go to qwen-cli (e.g. scripts/run.sh --system "Be brief." --stats), or with --server
# to qwen-server (e.g. scripts/run.sh --server --port 8081 --slots 2).
# Without QWEN_MODEL, when Qwen2.5 is neither cached nor downloadable (offline, QWENEDGE_OFFLINE=1),
# it runs the small demo model ../shared/models/tiny-qwen2-kjv instead, when that folder exists.
# Environment: QWENEDGE_CACHE (default ~/.cache/qwenedge), QWENEDGE_BUILD_DIR (default build),
# QWENEDGE_OFFLINE=1 (never download), QWENEDGE_HF_ENDPOINT (default $HF_ENDPOINT, else
# https://huggingface.co), QWENEDGE_DEMO_MODEL (the demo model's folder; empty: no demo model).
set -euo pipefail
cd "$(dirname "$0")/.."

server=0
if [ "${1:-}" = --server ]; then server=1; shift; fi

scripts/install-deps.sh >&2
build=${QWENEDGE_BUILD_DIR:-build}
# An existing build folder keeps its configuration; a new one is a Release build.
if [ -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" >/dev/null
else
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
targets=(qwen-cli qwen-convert)
[ "$server" = 0 ] || targets+=(qwen-server)
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" >&2

cache=${QWENEDGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qwenedge}
repo="Qwen/Qwen2.5-0.5B-Instruct"
files="config.json generation_config.json tokenizer.json tokenizer_config.json model.safetensors"
hub=${QWENEDGE_HF_ENDPOINT:-${HF_ENDPOINT:-https://huggingface.co}}
hub=${hub%/}
demo=${QWENEDGE_DEMO_MODEL-../shared/models/tiny-qwen2-kjv}

no_model() {
  cat >&2 <<MSG
run.sh: $1
Provide a model with QWEN_MODEL, either
  QWEN_MODEL=/path/to/Qwen2.5-0.5B-Instruct scripts/run.sh   a Hugging Face folder with config.json,
                                                              model.safetensors, tokenizer.json, ...
  QWEN_MODEL=/path/to/model.gguf scripts/run.sh              a qwen2 GGUF file (F32/F16/BF16/Q8_0/Q4_0)
or place the Hugging Face files of $repo in $cache/Qwen2.5-0.5B-Instruct/.
MSG
  exit 2
}

# Downloads one file of the Hugging Face repository and checks it against the SHA-256 that
# the hub publishes for large files (x-linked-etag); small files are checked by the converter.
fetch() {
  local name=$1 dir=$2 url="$hub/$repo/resolve/main/$1"
  [ -s "$dir/$name" ] && return 0
  echo "run.sh: downloading $name" >&2
  curl -fL --retry 2 --connect-timeout 10 --max-time 3600 -o "$dir/$name.part" "$url" || return 1
  local want
  want=$(curl -fsSI --connect-timeout 10 --max-time 30 "$url" | tr -d '\r"' | awk 'tolower($1) == "x-linked-etag:" {print $2}' | tail -n 1)
  if [[ "$want" =~ ^[0-9a-f]{64}$ ]]; then
    local got
    got=$(sha256sum "$dir/$name.part" | cut -d' ' -f1)
    [ "$got" = "$want" ] || { echo "run.sh: $name: checksum $got, expected $want" >&2; rm -f "$dir/$name.part"; return 1; }
  fi
  mv "$dir/$name.part" "$dir/$name"
}

model=${QWEN_MODEL:-}
if [ -z "$model" ]; then
  # A complete cached download wins; otherwise download it, and when that cannot be done, the
  # demo model (why: for the demo line; why_long: for the instructions when there is no demo).
  hf="$cache/Qwen2.5-0.5B-Instruct"
  mkdir -p "$hf"
  cached=1 why='' why_long=''
  for f in $files; do [ -s "$hf/$f" ] || cached=0; done
  if [ "$cached" = 1 ]; then
    model=$hf
  elif [ -n "${QWENEDGE_OFFLINE:-}" ]; then
    why="QWENEDGE_OFFLINE is set and Qwen2.5 is not cached" why_long="no model given, and QWENEDGE_OFFLINE forbids downloading $repo"
  elif ! command -v curl >/dev/null; then
    why="curl is not installed" why_long="no model given, and curl is not installed to download one"
  elif ! curl -fsI --connect-timeout 10 --max-time 20 "$hub/$repo/resolve/main/config.json" >/dev/null 2>&1; then
    why="Hugging Face is not reachable" why_long="no model given, and Hugging Face cannot be reached to download $repo"
  else
    for f in $files; do
      fetch "$f" "$hf" || { why="the download of $repo failed ($f)" why_long=$why; break; }
    done
    [ -n "$why" ] || model=$hf
  fi
  if [ -z "$model" ]; then
    if [ -z "$demo" ] || [ ! -s "$demo/config.json" ] || [ ! -s "$demo/model.safetensors" ]; then no_model "$why_long"; fi
    echo "run.sh: $why: running the 43 M-parameter demo model tiny-qwen2-kjv (trained on the King James Bible), not Qwen2.5; give a real model with QWEN_MODEL=/path/to/model.gguf or a Hugging Face folder" >&2
    model=$demo
  fi
fi
[ -e "$model" ] || no_model "QWEN_MODEL=$model does not exist"
if [ -d "$model" ]; then
  mkdir -p "$cache"
  # On x86 the cached file is stored row-interleaved, the layout the kernels read: it loads
  # without a repack (docs/KERNELS.md). Elsewhere the plain GGUF layout serves.
  layout=() suffix=q8_0
  if [ "$(uname -m)" = x86_64 ]; then layout=(--interleaved) suffix=q8_0.il; fi
  gguf="$cache/$(basename "$(realpath "$model")").$suffix.gguf"
  if [ ! -s "$gguf" ] || [ "$model/model.safetensors" -nt "$gguf" ]; then
    "$build/tools/qwen-convert" "$model" "$gguf" --type q8_0 "${layout[@]}" >&2
  fi
  model=$gguf
fi

if [ "$server" = 1 ]; then
  # The server keeps this process (signals reach it directly); its stdout passes through a
  # reader that prints the web chat's address once the server says which port it listens on.
  host=127.0.0.1 args=("$@")
  for ((i = 0; i + 1 < ${#args[@]}; i++)); do [ "${args[i]}" = --host ] && host=${args[i + 1]}; done
  case $host in 0.0.0.0) host=127.0.0.1 ;; ::) host='[::1]' ;; *:*) host="[$host]" ;; esac
  exec "$build/tools/qwen-server/qwen-server" -m "$model" "$@" > >(
    trap '' INT TERM  # Ctrl-C reaches the whole terminal group: keep passing lines until the server ends
    while IFS= read -r line; do
      printf '%s\n' "$line"
      case $line in "listening on port "*) echo "run.sh: web chat at http://$host:${line##* }/" >&2 ;; esac
    done)
fi
exec "$build/tools/qwen-cli/qwen-cli" -m "$model" "$@"
