#!/usr/bin/env bash
# The llama.cpp demo (docs/LLAMA_CPP.md): "my llama.cpp model drifts from transformers - where?"
#  1. a tiny Llama checkpoint written by Hugging Face transformers, and its fp32 golden dump
#     (ait_llm.register_hook), greedy, 2 tokens;
#  2. the checkpoint converted to GGUF Q4_0 and run by llama.cpp (llama-cpp-python) with
#     ait's eval callback, fed the golden's tokens; compare shows where the quantization error
#     is born and how it grows layer by layer (ranked, not claimed as a root cause);
#  3. the same in F16 with a fault planted in one node of layer 1 (ffn_up-1, scaled by 1.05):
#     compare names that node as the root cause.
set -euo pipefail
BUILD=${1:-build}
OUT=${DEMO_DIR:-out/demo-llamacpp}
PY=${PYTHON:-.venv/bin/python}
FAULT=${DEMO_FAULT:-ffn_up-1=scale:1.05}
PROMPT=1,17,42,99,200
STEPS=2
export PYTHONPATH="$BUILD/python${PYTHONPATH:+:$PYTHONPATH}"
rm -rf "$OUT"
mkdir -p "$OUT"
run() { printf '\n$ %s\n' "$*"; "$@"; }

run "$PY" python/golden/hf_llama.py init --preset tiny --seed 7 --out "$OUT/model"
printf '\n$ %s\n' "$PY python/golden/hf_llama.py run --model $OUT/model --input-ids $PROMPT --max-new-tokens $STEPS --dump-path $OUT/golden --token-range 0,1"
generated=$("$PY" python/golden/hf_llama.py run --model "$OUT/model" --input-ids "$PROMPT" --max-new-tokens "$STEPS" \
  --dump-path "$OUT/golden" --token-range 0,1 | tail -n 1)
echo "golden generated ids: $generated"
follow=${generated%,*}  # the ids fed at steps 1.. (all but the last generated one)
golden=$(ls -d "$OUT"/golden/ait_dump/torch_tensors/cpu_*)

run "$PY" -m ait_llm.dump.ggml_dump convert --model "$OUT/model" --out "$OUT/tiny-q4_0.gguf" --outtype q4_0
run "$PY" -m ait_llm.dump.ggml_dump run --model "$OUT/tiny-q4_0.gguf" -o "$OUT/q4_0" --input-ids "$PROMPT" \
  --max-new-tokens "$STEPS" --follow-ids "$follow" -er 0,1
run "$BUILD/bin/ait" llm compare -gp "$golden" -mp "$(ls -d "$OUT"/q4_0/ait_dump/tensors/0_*)" -o "$OUT/compare-q4_0"

run "$PY" -m ait_llm.dump.ggml_dump convert --model "$OUT/model" --out "$OUT/tiny-f16.gguf" --outtype f16
run "$PY" -m ait_llm.dump.ggml_dump run --model "$OUT/tiny-f16.gguf" -o "$OUT/f16-fault" --input-ids "$PROMPT" \
  --max-new-tokens "$STEPS" --follow-ids "$follow" -er 0,1 --perturb "$FAULT"
run "$BUILD/bin/ait" llm compare -gp "$golden" -mp "$(ls -d "$OUT"/f16-fault/ait_dump/tensors/0_*)" -o "$OUT/compare-f16-fault"
printf '\nThe fault was planted in %s.\n' "${FAULT%%=*}"
