#!/usr/bin/env bash
# The test suite under sanitizers, each in its own configure:
#   AddressSanitizer + UndefinedBehaviorSanitizer: every ctest test but the slow ones, the install
#   test, run.sh and the server tests that drive it from node or a browser;
#   ThreadSanitizer: the tests that run sessions, tokenizers and the server on several threads at
#   once, in a build without OpenMP (TSan cannot see libgomp's barriers; the engine's own thread
#   pool it can). The server tests' time limits are scaled for sanitizer speeds
#   (QWENEDGE_TEST_TIME_SCALE, read at configure time by ctest and at run time by the tests).
#   The TSan run copies the Release build's test fixtures when they are there (the converter it
#   would run to make them is not under test there).
#   scripts/test-sanitizers.sh [asan|tsan]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(asan tsan)

for kind in "${kinds[@]}"; do
  case "$kind" in
    asan) sanitize="address,undefined"; openmp=ON; scale=5
          filter=(-LE "slow|install" -E "server/(browser|openai_client)|tools/run_sh") ;;
    tsan) sanitize="thread"; openmp=OFF; scale=10
          filter=(-R "session|thread|Two sessions|batched|c/api|server/" -E "server/(browser|openai_client)") ;;
    *) echo "test-sanitizers: unknown kind $kind (asan or tsan)" >&2; exit 2 ;;
  esac
  build="build-$kind"
  echo "test-sanitizers: $kind ($sanitize) in $build"
  export QWENEDGE_TEST_TIME_SCALE=$scale
  if [ "$kind" = tsan ]; then
    export QWENEDGE_FIXTURES_FROM="$PWD/${QWENEDGE_BUILD_DIR:-build}/fixtures"
  else
    unset QWENEDGE_FIXTURES_FROM
  fi
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQWENEDGE_SANITIZE="$sanitize" \
    -DQWENEDGE_BUILD_BENCHMARKS=OFF -DQWENEDGE_INSTALL=OFF -DQWENEDGE_OPENMP="$openmp" >/dev/null
  cmake --build "$build" -j "$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 3000 "${filter[@]}"
done
