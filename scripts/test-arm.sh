#!/usr/bin/env bash
# Cross-builds the kernels and their tests for AArch64 (NEON + dotprod) and runs them under
# qemu-aarch64 user emulation. Needs g++-aarch64-linux-gnu, qemu-user and catch2 (apt-get).
#   scripts/test-arm.sh             build in build-arm/ and run the kernel tests
#   QWENEDGE_ARM_BUILD_DIR=dir ...  another build folder
set -euo pipefail
cd "$(dirname "$0")/.."

build=${QWENEDGE_ARM_BUILD_DIR:-build-arm}
for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  command -v "$tool" >/dev/null || { echo "test-arm: $tool not found (apt-get install g++-aarch64-linux-gnu qemu-user)" >&2; exit 1; }
done
[ -f /usr/include/catch2/catch.hpp ] || { echo "test-arm: catch2 not found (apt-get install catch2)" >&2; exit 1; }

# Catch2 is header-only: expose just its folder to the cross compiler, not the host's /usr/include.
mkdir -p "$build/catch2-include"
ln -sfn /usr/include/catch2 "$build/catch2-include/catch2"

cmake -S tests/kernels -B "$build" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-linux-gnu.cmake" \
  -DCMAKE_BUILD_TYPE=Release \
  -DQWENEDGE_CATCH2_INCLUDE_DIR="$PWD/$build/catch2-include"
cmake --build "$build" -j "$(nproc)"
# QEMU's default CPU ("max") has NEON and dotprod, so the test run covers scalar and neon.
ctest --test-dir "$build" --output-on-failure
