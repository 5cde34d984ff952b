#!/usr/bin/env bash
# The GPU check of the LLM path, for the last call of ../shared/gpu's kit
# (after `source /tmp/ort/gpu-env.sh`). bench/gpu-llm-prepare.sh made the extra
# files: ser.xz and bench-backbone.xz (binaries), llama3-tok.tgz (the real
# Llama-3 tokenizer.json and tokenizer_config.json) and pairs.jsonl (2,000
# HH-RLHF pairs from ../shared/data).
#
#  1. a random-weight Llama-shaped fp16 model (16 x 1536, Llama-3's 128,256-token
#     vocabulary) exported with torch.onnx.export, with config.json and the
#     tokenizer files beside it, as optimum lays a folder out;
#  2. `ser models import` turns the folder into a backbone (pair template from
#     Llama-3's chat template);
#  3. bench/backbone -model: the same CUDA session embeds the pairs' formatted
#     texts from pre-tokenized ids and from text (tokenize, then embed);
#  4. `ser embed --device cuda` on the same pairs, as a user runs it.
# Results go to $OUT (the device tool brings them back).
set -uo pipefail
cd "$(dirname "$0")/.."
BINS="ser bench-backbone"
source bench/gpu-llm-common.sh
SER=(/tmp/ser --home "$H" --ort-lib "$ORT_LIB")
head -500 "$K/pairs.jsonl" > "$K/pairs-500.jsonl"
timeout 300 /tmp/bench-backbone -home "$H" -ort-lib "$ORT_LIB" -model "$M" -device cuda -pairs "$K/pairs.jsonl" -n 1000 -reps 3 > "$OUT/tokenizer-cost.txt" 2>&1
cat "$OUT/tokenizer-cost.txt"
timeout 200 "${SER[@]}" --device cuda embed --model "$M" --data "$K/pairs-500.jsonl" --cache "$H/l3.feat" > /dev/null 2> "$OUT/embed.err"
tail -2 "$OUT/embed.err" | cut -c1-400
(cd "$OUT" && tar czf logs.tgz --exclude=logs.tgz . && find . -type f ! -name logs.tgz ! -name tokenizer-cost.txt ! -name import.txt -delete)
