#!/usr/bin/env bash
# Runs a Node test of qwen-server after installing its npm packages into the build tree (once).
# Exits 77 (ctest: skipped) with a reason when node, npm, the registry or chromium is missing.
# usage: node_test.sh BUILD_DIR SCRIPT.mjs QWEN_SERVER MODEL [extra args...]
set -uo pipefail
build=$1 script=$2
shift 2
dir=$build/server-npm
packages=(openai playwright-core)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIP: node/npm not installed (apt-get install nodejs npm)"
  exit 77
fi
if [[ $script == *browser* && ! -x /usr/bin/chromium ]]; then
  echo "SKIP: /usr/bin/chromium not installed (apt-get install chromium)"
  exit 77
fi
mkdir -p "$dir"
missing=0
for p in "${packages[@]}"; do [[ -d $dir/node_modules/$p ]] || missing=1; done
if (( missing )); then
  # One test installs at a time; the other waits for it.
  if ! (flock 9 && cd "$dir" && timeout 300 npm install --no-audit --no-fund --silent "${packages[@]}") 9>"$dir/.lock"; then
    echo "SKIP: npm could not install ${packages[*]} (no registry?)"
    exit 77
  fi
fi
# Slow builds scale the limit (QWENEDGE_TEST_TIME_SCALE, as the Python tests do).
limit=$(awk -v s="${QWENEDGE_TEST_TIME_SCALE:-1}" 'BEGIN { s += 0; printf "%d", 240 * (s > 0 ? s : 1) }')
exec timeout "$limit" node "$(dirname "$0")/$script" "$1" "$2" "$dir/node_modules" "${@:3}"
