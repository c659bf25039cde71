#!/usr/bin/env bash
# The README's main-job command: installs dependencies, builds, obtains a model, starts a chat.
#   scripts/run.sh                                  downloads Qwen2.5-0.5B-Instruct (once), converts it to Q8_0
#   QWEN_MODEL=/path/to/model.gguf scripts/run.sh   a qwen2 GGUF file
#   QWEN_MODEL=/path/to/hf-dir scripts/run.sh       a Hugging Face folder, converted once to Q8_0 and cached
#                                                   (row-interleaved on x86: no repack at load)
# Extra arguments go to qwen-cli (e.g. scripts/run.sh --system "Be brief." --stats).
# Environment: QWENEDGE_CACHE (default ~/.cache/qwenedge), QWENEDGE_BUILD_DIR (default build),
# QWENEDGE_OFFLINE=1 (never download).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh >&2
build=${QWENEDGE_BUILD_DIR:-build}
# An existing build folder keeps its configuration; a new one is a Release build.
if [ -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" >/dev/null
else
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target qwen-cli qwen-convert >&2

cache=${QWENEDGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qwenedge}
repo="Qwen/Qwen2.5-0.5B-Instruct"
files="config.json generation_config.json tokenizer.json tokenizer_config.json model.safetensors"

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
  local name=$1 dir=$2 url="https://huggingface.co/$repo/resolve/main/$1"
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
  hf="$cache/Qwen2.5-0.5B-Instruct"
  mkdir -p "$hf"
  if [ -n "${QWENEDGE_OFFLINE:-}" ]; then
    for f in $files; do [ -s "$hf/$f" ] || no_model "no model given, and QWENEDGE_OFFLINE forbids downloading $repo"; done
  fi
  if ! command -v curl >/dev/null; then no_model "no model given, and curl is not installed to download one"; fi
  if ! curl -fsI --connect-timeout 10 --max-time 20 "https://huggingface.co/$repo/resolve/main/config.json" >/dev/null 2>&1; then
    for f in $files; do [ -s "$hf/$f" ] || no_model "no model given, and Hugging Face cannot be reached to download $repo"; done
  fi
  for f in $files; do fetch "$f" "$hf" || no_model "the download of $repo failed ($f)"; done
  model=$hf
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
exec "$build/tools/qwen-cli/qwen-cli" -m "$model" "$@"
