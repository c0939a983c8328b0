#!/usr/bin/env bash
# The demo: generate two dumps of a toy network (float32 golden; float16 "my" with a fault
# planted in layer 2's second Linear) and let `ait llm compare` find where they diverge.
set -euo pipefail
BUILD=${1:-build}
OUT=${DEMO_DIR:-out/demo}
rm -rf "$OUT"
"$BUILD/bin/ait_make_demo_dumps" "$OUT" --tokens 2 --layers 4 --hidden 256
echo
echo "\$ ait llm compare -gp $OUT/golden/ait_dump -mp $OUT/my/ait_dump -o $OUT"
"$BUILD/bin/ait" llm compare -gp "$OUT/golden/ait_dump" -mp "$OUT/my/ait_dump" -o "$OUT"
