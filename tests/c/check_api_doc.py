#!/usr/bin/env python3
"""docs/API.md shows the examples in full: check that each example file appears in it verbatim.

    check_api_doc.py SOURCE_DIR
"""
import sys
from pathlib import Path

src = Path(sys.argv[1])
doc = (src / "docs/API.md").read_text(encoding="utf-8")
failed = False
for example in ("examples/chat/main.cpp", "examples/c/main.c", "examples/batch/main.cpp", "examples/c/batch.c"):
    text = (src / example).read_text(encoding="utf-8")
    if text.strip() not in doc:
        print(f"docs/API.md: the copy of {example} differs from the file (paste the file again)")
        failed = True
    else:
        print(f"docs/API.md: {example} matches")
sys.exit(1 if failed else 0)
