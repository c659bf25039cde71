#!/usr/bin/env bash
# The tools, benchmarks and examples use the library the way an app does: every quoted include
# is either a public header (qwenedge/...) or a file of their own folder tree, never engine/,
# kernels/, tokenizer/ or anything else of the repository's internals.
#   tests/api/check_boundary.sh REPO_ROOT
set -euo pipefail
root=$1
bad=0
for top in tools benchmarks examples; do
  while IFS= read -r -d '' file; do
    while IFS= read -r line; do
      inc=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/' <<<"$line")
      case $inc in
        qwenedge/*) [ -f "$root/include/$inc" ] && continue ;;
      esac
      # A header of the tool's own tree: beside the file, or under tools/ (their include path).
      dir=$(dirname "$file")
      for base in "$dir" "$root/$top"; do
        resolved=$(realpath -m "$base/$inc")
        if [ -f "$resolved" ] && [[ $resolved == "$root/$top/"* ]]; then continue 2; fi
      done
      echo "check_boundary: ${file#$root/}: #include \"$inc\" is not a public header (include/qwenedge/) nor one of $top/'s own"
      bad=1
    done < <(grep -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" || true)
    # Angle-bracket includes of the repository's internals are refused too.
    if grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<(engine|kernels|tokenizer)/' "$file"; then
      echo "check_boundary: ${file#$root/}: includes an internal header with <...>"
      bad=1
    fi
  done < <(find "$root/$top" -type f \( -name '*.c' -o -name '*.cc' -o -name '*.cpp' -o -name '*.h' -o -name '*.hpp' \) -print0)
done
# The installed headers name no internal header either.
if grep -rnE '#[[:space:]]*include[[:space:]]*"(engine|kernels|tokenizer)/' "$root/include"; then
  echo "check_boundary: include/ names an internal header"
  bad=1
fi
if [ $bad -ne 0 ]; then exit 1; fi
echo "check_boundary: tools/, benchmarks/ and examples/ include only include/qwenedge/ and their own headers"
