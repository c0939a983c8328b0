#!/usr/bin/env bash
# The demo: "my accelerated model disagrees with the PyTorch golden - where does it go wrong?"
#  1. a tiny Llama checkpoint written by Hugging Face transformers;
#  2. the golden: transformers in fp32, dumped with ait_llm.register_hook;
#  3. "my" run: the reference engine in fp16 with a fault planted in one mid-network
#     operation (layer 2's gate projection, scaled by 1.25), dumped with `ait llm dump`;
#  4. `ait llm compare` pairs the two dumps by topology and names the root cause.
set -euo pipefail
BUILD=${1:-build}
OUT=${DEMO_DIR:-out/demo}
PY=${PYTHON:-.venv/bin/python}
FAULT=${DEMO_FAULT:-LinearOperation_2_9=scale:1.25}
PROMPT=1,17,42,99,200
STEPS=2
rm -rf "$OUT"
mkdir -p "$OUT"
run() { printf '\n$ %s\n' "$*"; "$@"; }

run "$PY" python/golden/hf_llama.py init --preset tiny --seed 7 --out "$OUT/model"
PYTHONPATH="$BUILD/python" run "$PY" python/golden/hf_llama.py run --model "$OUT/model" --input-ids "$PROMPT" \
  --max-new-tokens "$STEPS" --dump-path "$OUT/golden" --token-range 0,1
run "$BUILD/bin/ait" llm dump --type model layer tensor -er 0,1 -o "$OUT/my" \
  --exec "$BUILD/bin/ait-engine run --model $OUT/model --input-ids $PROMPT --max-new-tokens $STEPS --dtype fp16 --perturb $FAULT"
golden=$(ls -d "$OUT"/golden/ait_dump/torch_tensors/cpu_*)
my=$(ls -d "$OUT"/my/ait_dump/tensors/0_*)
run "$BUILD/bin/ait" llm compare -gp "$golden" -mp "$my" -o "$OUT"
# Each operation of my dump checked on its own inputs against a float64 reference: the
# planted operation FAILS, everything downstream of it still passes. Exit status 1 says
# something failed; the demo goes on to say where the fault was.
run "$BUILD/bin/ait" llm opcheck -i "$my/0" -o "$OUT" || [ $? -eq 1 ]
printf '\nThe fault was planted in %s.\n' "${FAULT%%=*}"
