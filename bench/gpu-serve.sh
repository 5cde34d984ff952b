#!/usr/bin/env bash
# The GPU check of `ser serve`, for the last call of ../shared/gpu's kit (after
# `source /tmp/ort/gpu-env.sh`); bench/gpu-llm-prepare.sh made the extra files.
#
#  1. a random-weight Llama-shaped fp16 model (16 x 1536, Llama-3's 128,256-token
#     vocabulary) exported with torch.onnx.export, with the real Llama-3
#     tokenizer files beside it, and `ser models import` (max 512 tokens);
#  2. bench/serve on it with --device cuda: a head trained on the first 1,000
#     HH-RLHF pairs, then the load benchmark on the other 1,000 (2,000 items):
#     ser score (a process), ser score's code in-process and ser serve, cold
#     and warm, every answer checked against ser score's.
# Results go to $OUT (the device tool brings them back).
set -uo pipefail
cd "$(dirname "$0")/.."
BINS="ser bench-serve"
source bench/gpu-llm-common.sh
head -1000 "$K/pairs.jsonl" > /tmp/train.jsonl
tail -n +1001 "$K/pairs.jsonl" > /tmp/test.jsonl
timeout 330 /tmp/bench-serve -home "$H" -ort-lib "$ORT_LIB" -device cuda -model "$M" -ser /tmp/ser \
  -train /tmp/train.jsonl -split /tmp/test.jsonl -pairs 1000 -rounds 2 -tolerance 0.02 > "$OUT/serve-gpu.txt" 2>&1
cat "$OUT/serve-gpu.txt"
