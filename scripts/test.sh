#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, and runs the whole test suite:
# the Release build under ctest, the NEON kernels under qemu, the fuzzers for a bounded time, and
# the suite again under AddressSanitizer+UBSan and its threaded tests under ThreadSanitizer.
#   scripts/test.sh
#   QWENEDGE_TEST_LABELS=slow    only the ctest tests with this label (-L)
#   QWENEDGE_FUZZ_SECONDS=N      seconds per fuzz target (default 60; 0 skips fuzzing)
#   QWENEDGE_SKIP_ARM=1          skip the cross-built NEON kernel tests
#   QWENEDGE_SKIP_SANITIZERS=1   skip the ASan+UBSan and TSan configures
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

build=${QWENEDGE_BUILD_DIR:-build}
jobs=$(nproc)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DQWENEDGE_WERROR=ON
cmake --build "$build" -j "$jobs"

ctest_args=(--test-dir "$build" --output-on-failure -j "$jobs" --timeout 1500)
if [ -n "${QWENEDGE_TEST_LABELS:-}" ]; then ctest_args+=(-L "$QWENEDGE_TEST_LABELS"); fi
log=$(mktemp)
ctest "${ctest_args[@]}" | tee "$log"
summary=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -n 1)
rm -f "$log"

if [ -z "${QWENEDGE_SKIP_ARM:-}" ]; then scripts/test-arm.sh; fi
fuzz_seconds=${QWENEDGE_FUZZ_SECONDS:-60}
if [ "$fuzz_seconds" != 0 ]; then scripts/fuzz.sh "$fuzz_seconds"; fi
if [ -z "${QWENEDGE_SKIP_SANITIZERS:-}" ]; then scripts/test-sanitizers.sh tsan asan; fi
# ctest's own summary once more as the closing line, after the arm and fuzz stages.
total=$(echo "$summary" | sed -E 's/.*out of ([0-9]+).*/\1/')
failed=$(echo "$summary" | sed -E 's/.*, ([0-9]+) tests failed.*/\1/')
echo "ctest: $((total - failed)) passed, $failed failed"
