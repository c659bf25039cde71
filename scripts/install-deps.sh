#!/usr/bin/env bash
# Installs every Debian package qwenedge needs to build, test and benchmark. Idempotent:
# packages already present are not fetched again, and apt-get update runs only when needed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git curl
  clang libclang-rt-dev            # libFuzzer + sanitizers for the fuzz targets
  libsimde-dev                     # AVX-512 / AVX-VNNI kernels tested on CPUs without them
  g++-aarch64-linux-gnu qemu-user  # NEON kernels cross-built and tested under emulation
  catch2                           # unit tests (Catch2 v2)
  libbenchmark-dev                 # micro-benchmarks
  nlohmann-json3-dev               # config.json / safetensors headers / server JSON
  python3 python3-numpy            # the independent NumPy reference forward (tests only)
  unicode-data                     # Unicode data files for the tokenizer table generator
  tmux                             # drives qwen-cli in a real terminal in the tests
  chromium                         # the web chat's browser test (headless, driven by playwright-core)
  nginx-light                      # the scale-out test: replicas behind nginx (tests/deploy)
)

# Node.js runs the server's client and browser tests; a machine may already have it from
# elsewhere (with npm bundled), so Debian's packages are added only when node or npm is missing.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then packages+=(nodejs npm); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
