#!/usr/bin/env bash
# Builds the libFuzzer targets with clang + ASan/UBSan and runs each for a bounded time from a
# seed corpus of valid files.  scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
build=${QWENEDGE_FUZZ_BUILD_DIR:-build-fuzz}
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DQWENEDGE_BUILD_FUZZERS=ON -DQWENEDGE_BUILD_TESTS=OFF -DQWENEDGE_BUILD_BENCHMARKS=OFF -DQWENEDGE_BUILD_TOOLS=OFF >/dev/null
targets=$(cd tests/fuzz && ls fuzz_*.cpp | sed 's/\.cpp$//')
cmake --build "$build" -j "$(nproc)" --target $targets

for t in $targets; do
  corpus="$build/corpus/$t"
  mkdir -p "$corpus"
  seeds="tests/fuzz/seeds/${t#fuzz_}"
  if [ -x "$seeds.sh" ]; then "$seeds.sh" "$corpus"; fi
  echo "fuzz: running $t for ${seconds}s"
  "$build/tests/fuzz/$t" "$corpus" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 2>&1 | tail -n 12
  echo "fuzz: $t finished with no finding"
done
