#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, and runs the whole test suite.
#   scripts/test.sh            Release build + ctest (the default CI job)
#   QWENEDGE_TEST_LABELS=...   extra ctest label filter (-L), e.g. "slow"
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

build=${QWENEDGE_BUILD_DIR:-build}
jobs=$(nproc)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DQWENEDGE_WERROR=ON
cmake --build "$build" -j "$jobs"

ctest_args=(--test-dir "$build" --output-on-failure -j "$jobs" --timeout 1500)
if [ -n "${QWENEDGE_TEST_LABELS:-}" ]; then ctest_args+=(-L "$QWENEDGE_TEST_LABELS"); fi
ctest "${ctest_args[@]}"
