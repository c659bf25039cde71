#!/usr/bin/env bash
# The README's main-job command: installs dependencies, builds, obtains a model, and (once the
# chat CLI exists) starts a chat. Today it converts and inspects the model it is given.
#   QWEN_MODEL=/path/to/model.gguf scripts/run.sh
#   QWEN_MODEL=/path/to/hf-dir scripts/run.sh      (converted once to Q8_0 and cached)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"

model=${QWEN_MODEL:-}
if [ -z "$model" ]; then
  cat >&2 <<'MSG'
run.sh: no model given. Provide one with QWEN_MODEL:
  QWEN_MODEL=/path/to/Qwen2.5-0.5B-Instruct scripts/run.sh   (a Hugging Face folder: config.json,
                                                              model.safetensors, tokenizer.json, ...)
  QWEN_MODEL=/path/to/model.gguf scripts/run.sh              (a qwen2 GGUF file)
MSG
  exit 2
fi
if [ -d "$model" ]; then
  cache=${QWENEDGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qwenedge}
  mkdir -p "$cache"
  gguf="$cache/$(basename "$(realpath "$model")").q8_0.gguf"
  if [ ! -f "$gguf" ]; then
    build/tools/qwen-convert "$model" "$gguf" --type q8_0
  fi
  model=$gguf
fi
build/tools/qwen-inspect "$model"
echo "run.sh: the chat CLI (qwen-cli) is not built yet; the model above is ready for it."
