#!/usr/bin/env bash
# Installs qwenedge into a temporary prefix and builds and runs the examples (and qwen-server) against the installed
# package only: examples/chat (C++, find_package(qwenedge)) and examples/c (C, pkg-config; linked
# once with the shared and once with the static library).
#
#   scripts/test-install.sh [--build-dir DIR] [--work-dir DIR] [--keep] MODEL.gguf
#
#   --build-dir DIR  install from this existing build (configured with QWENEDGE_INSTALL=ON and
#                    already built); without it the library is configured and built afresh in
#                    the work directory (library targets only)
#   --work-dir DIR   where the prefix and the example builds go (default: a new temp dir,
#                    removed at exit unless --keep)
#   MODEL.gguf       a model to run, e.g. build/fixtures/tiny-f32.q8_0.gguf (ctest's fixture step
#                    makes it) — any qwen2 GGUF with the real tokenizer
#
# Prints PASS/FAIL per step and exits non-zero on the first failure. JOBS sets build parallelism
# (default 2).
set -uo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="" work_dir="" keep=0 model=""
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build_dir=$2; shift 2 ;;
    --work-dir) work_dir=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "test-install: unknown option $1" >&2; exit 2 ;;
    *) model=$1; shift ;;
  esac
done
if [ -z "$model" ]; then
  echo "usage: scripts/test-install.sh [--build-dir DIR] [--work-dir DIR] [--keep] MODEL.gguf" >&2
  exit 2
fi
if [ ! -f "$model" ]; then
  echo "test-install: FAIL: model file $model not found" >&2
  exit 1
fi
model=$(cd "$(dirname "$model")" && pwd)/$(basename "$model")
jobs=${JOBS:-2}

if [ -z "$work_dir" ]; then
  work_dir=$(mktemp -d "${TMPDIR:-/tmp}/qwenedge-install-test.XXXXXX")
  [ "$keep" = 1 ] || trap 'rm -rf "$work_dir"' EXIT
else
  rm -rf "$work_dir"
  mkdir -p "$work_dir"
fi
work_dir=$(cd "$work_dir" && pwd)
prefix=$work_dir/prefix
log=$work_dir/log
mkdir -p "$log"

start=$(date +%s)
step_start=$start
fail() {
  echo "test-install: FAIL: $1"
  [ -n "${2:-}" ] && [ -f "$2" ] && { echo "---- $2 (last 40 lines)"; tail -n 40 "$2"; echo "----"; }
  echo "test-install: FAIL (work dir: $work_dir)"
  exit 1
}
pass() {
  local now
  now=$(date +%s)
  echo "test-install: PASS: $1 ($((now - step_start)) s)"
  step_start=$now
}
# Runs a command quietly into a log file; fails the test with the log on error.
run() {
  local name=$1
  shift
  "$@" > "$log/$name.log" 2>&1 || fail "$name: $*" "$log/$name.log"
}

# Whether the dynamic loader takes libqwenedge for the executable $1 from directory $2 ("" =
# from anywhere).
loads() {
  local deps path
  deps=$(ldd "$1") || return 1
  path=$(awk '/libqwenedge/ {print $3; exit}' <<< "$deps")
  [ -n "$path" ] || return 1
  [ -z "$2" ] || [ "$(dirname "$(readlink -f "$path")")" = "$(readlink -f "$2")" ]
}

generator=()
command -v ninja > /dev/null && generator=(-G Ninja)

# 1. The library: reuse a build, or configure and build one.
if [ -n "$build_dir" ]; then
  build_dir=$(cd "$build_dir" && pwd) || fail "build dir $build_dir not found"
  grep -q '^QWENEDGE_INSTALL:BOOL=ON' "$build_dir/CMakeCache.txt" 2>/dev/null ||
    fail "$build_dir is not a qwenedge build with QWENEDGE_INSTALL=ON"
  pass "reusing the build in $build_dir"
else
  build_dir=$work_dir/build
  run configure cmake -S "$src" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DQWENEDGE_INSTALL=ON -DQWENEDGE_BUILD_TOOLS=OFF -DQWENEDGE_BUILD_TESTS=OFF -DQWENEDGE_BUILD_BENCHMARKS=OFF
  run build cmake --build "$build_dir" -j "$jobs" --target qwenedge_static qwenedge_shared
  pass "configured and built the library in $build_dir"
fi

# 2. Install, and check what is there.
run install cmake --install "$build_dir" --prefix "$prefix"
pc=$(find "$prefix" -name qwenedge.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || fail "no qwenedge.pc under $prefix"
libdir=$(dirname "$(dirname "$pc")")
for f in include/qwenedge/qwenedge.h include/qwenedge/qwenedge.hpp include/qwenedge/session.hpp \
         include/qwenedge/model.hpp include/qwenedge/error.hpp; do
  [ -f "$prefix/$f" ] || fail "missing $prefix/$f"
done
[ -f "$libdir/libqwenedge.a" ] || fail "missing $libdir/libqwenedge.a"
[ -f "$libdir/cmake/qwenedge/qwenedgeConfig.cmake" ] || fail "missing $libdir/cmake/qwenedge/qwenedgeConfig.cmake"
[ -f "$libdir/cmake/qwenedge/qwenedgeConfigVersion.cmake" ] || fail "missing qwenedgeConfigVersion.cmake"
so=$(readlink -f "$libdir/libqwenedge.so") || fail "missing $libdir/libqwenedge.so"
[ -f "$so" ] || fail "libqwenedge.so is a dangling link"
soname=$(objdump -p "$so" | awk '/SONAME/ {print $2}')
[ -n "$soname" ] && [ -e "$libdir/$soname" ] || fail "libqwenedge.so has no SONAME, or no $soname beside it"
pass "installed into $prefix (libqwenedge.a, $(basename "$so") with SONAME $soname, headers, CMake package, pkg-config)"

# Only the installed package is visible to the example builds.
export PKG_CONFIG_LIBDIR=$(dirname "$pc")
unset PKG_CONFIG_PATH
version=$(pkg-config --modversion qwenedge) || fail "pkg-config cannot read $pc"
pkg-config --validate qwenedge || fail "pkg-config --validate qwenedge"
pass "pkg-config finds qwenedge $version"

# 3. The C++ example, through find_package(qwenedge): shared, then static.
chat_build=$work_dir/chat
run chat-configure cmake -S "$src/examples/chat" -B "$chat_build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF
found=$(sed -n 's/^qwenedge_DIR:PATH=//p' "$chat_build/CMakeCache.txt")
[ "$(readlink -f "$found")" = "$(readlink -f "$libdir/cmake/qwenedge")" ] ||
  fail "find_package(qwenedge) found $found, not the installed package"
run chat-build cmake --build "$chat_build" -j "$jobs"
loads "$chat_build/chat" "$libdir" || fail "chat does not load $libdir's libqwenedge.so"
chat_static=$work_dir/chat-static
run chat-static-configure cmake -S "$src/examples/chat" -B "$chat_static" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DQWENEDGE_USE_STATIC_LIBS=ON
run chat-static-build cmake --build "$chat_static" -j "$jobs"
if loads "$chat_static/chat" ""; then fail "the static chat still loads libqwenedge.so"; fi
pass "examples/chat built with find_package(qwenedge) (shared, and static with QWENEDGE_USE_STATIC_LIBS)"

# 4. The C example, through pkg-config: shared, then static.
run c-build make -s -C "$src/examples/c" OUT="$work_dir" CC="${CC:-cc}" "CFLAGS=-O2 -Werror"
loads "$work_dir/chat_c" "$libdir" || fail "chat_c does not load $libdir's libqwenedge.so"
mkdir -p "$work_dir/static"
run c-build-static make -s -C "$src/examples/c" OUT="$work_dir/static" STATIC=1 CC="${CC:-cc}" "CFLAGS=-O2 -Werror"
if loads "$work_dir/static/chat_c" ""; then fail "the static chat_c still loads libqwenedge.so"; fi
pass "examples/c built with pkg-config (shared and static)"

# 4b. The step level from outside: the batch examples (C++ and C), and qwen-server itself built on
# its own against the installed package.
batch_build=$work_dir/batch
run batch-configure cmake -S "$src/examples/batch" -B "$batch_build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix"
run batch-build cmake --build "$batch_build" -j "$jobs"
server_build=$work_dir/server
run server-configure cmake -S "$src/tools/qwen-server" -B "$server_build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix"
run server-build cmake --build "$server_build" -j "$jobs" --target qwen-server
loads "$server_build/qwen-server" "$libdir" || fail "the out-of-tree qwen-server does not load $libdir's libqwenedge.so"
pass "examples/batch and tools/qwen-server built out of tree against the installed package"

# 5. Run them. Random-weight models say nonsense; the test is that they load, stream and finish.
run_example() {
  local name=$1
  shift
  local out=$log/$name.out err=$log/$name.err
  "$@" "$model" "Hello! Who are you?" 16 > "$out" 2> "$err" || fail "$name exited with status $?" "$err"
  grep -q "finish: " "$err" || fail "$name printed no summary" "$err"
  [ -s "$out" ] || fail "$name streamed nothing" "$err"
  echo "test-install:   $name: $(tail -n 1 "$err")"
}
run_example chat "$chat_build/chat"
run_example chat_static "$chat_static/chat"
run_example chat_c "$work_dir/chat_c"
run_example chat_c_static "$work_dir/static/chat_c"
pass "the examples ran on $(basename "$model")"

# 5b. Several sequences in one step equal each alone (the examples check it and exit 1 if not).
for b in "$batch_build/batch" "$work_dir/batch_c"; do
  "$b" "$model" 12 > "$log/$(basename "$b").out" 2> "$log/$(basename "$b").err" ||
    fail "$(basename "$b") exited with status $?" "$log/$(basename "$b").err"
  echo "test-install:   $(basename "$b"): $(tail -n 1 "$log/$(basename "$b").err")"
done
pass "batched steps equal each sequence alone (C++ and C)"

# 5c. The out-of-tree server answers a chat completion.
"$server_build/qwen-server" -m "$model" --port 0 --slots 2 > "$log/server.out" 2> "$log/server.err" &
server_pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$log/server.err" | head -n 1 | sed 's/.*://')
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { kill "$server_pid" 2> /dev/null; fail "the out-of-tree qwen-server did not start" "$log/server.err"; }
curl -sf -m 60 "http://127.0.0.1:$port/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":8,"temperature":0}' > "$log/server.answer" ||
  { kill "$server_pid" 2> /dev/null; fail "the out-of-tree qwen-server did not answer" "$log/server.err"; }
kill -TERM "$server_pid"; wait "$server_pid" 2> /dev/null
grep -q '"finish_reason"' "$log/server.answer" || fail "the server's answer has no finish_reason" "$log/server.answer"
pass "the out-of-tree qwen-server answered a chat completion"

echo "test-install: PASS (all steps, $(($(date +%s) - start)) s)"
