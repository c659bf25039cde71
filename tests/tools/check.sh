# Sourced by the tool tests: named checks, counted, and the closing summary.
#   check NAME COMMAND...   passes when COMMAND succeeds
#   contains TEXT NEEDLE    whether TEXT holds NEEDLE (fixed string)
#   finish                  prints "N passed, N failed" and fails if anything did
pass=0 fail=0
check() {
  local name=$1; shift
  if "$@"; then pass=$((pass + 1)); else echo "FAIL: $name"; fail=$((fail + 1)); fi
}
contains() { grep -qF -- "$2" <<<"$1"; }
finish() {
  echo "$pass passed, $fail failed"
  test "$fail" = 0
}
