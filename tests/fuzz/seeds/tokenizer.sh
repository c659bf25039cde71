#!/usr/bin/env bash
# Writes the tokenizer goldens' strings as fuzz_tokenizer seeds: one options byte, then the text.
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")" && pwd)
/usr/bin/python3 - "$out" "$here/../../tokenizer/goldens/encode.json" <<'PY'
import json, os, sys
out, goldens = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
for i, g in enumerate(json.load(open(goldens, encoding="utf-8"))):
    with open(os.path.join(out, f"golden-{i:04d}"), "wb") as f:
        f.write(bytes([i % 8]) + g["text"].encode("utf-8"))
PY
