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
K=${KIT:-/tmp/ort}
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
H=/tmp/serhome
mkdir -p "$H/models" /tmp/llama3-tok
for b in ser bench-backbone; do
  python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$K/$b.xz" "/tmp/$b" && chmod +x "/tmp/$b"
done
tar xzf "$K/llama3-tok.tgz" -C /tmp/llama3-tok
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
nproc | sed 's/^/cpu cores: /' | tee -a "$OUT/gpu.txt"
M="$H/models/llama3-fp16"
timeout 300 python3 bench/gpu.py export --kind llama3 --dtype fp16 --out "$M" --tokenizer-dir /tmp/llama3-tok > "$OUT/export.json" 2> "$OUT/export.err"
tail -1 "$OUT/export.json" "$OUT/export.err" | cut -c1-400
SER=(/tmp/ser --home "$H" --ort-lib "$ORT_LIB")
timeout 300 "${SER[@]}" --device cuda models import --max-tokens 512 "$M" > "$OUT/import.txt" 2>&1
cat "$OUT/import.txt" | cut -c1-400
head -500 "$K/pairs.jsonl" > "$K/pairs-500.jsonl"
timeout 300 /tmp/bench-backbone -home "$H" -ort-lib "$ORT_LIB" -model "$M" -device cuda -pairs "$K/pairs.jsonl" -n 1000 -reps 3 > "$OUT/tokenizer-cost.txt" 2>&1
cat "$OUT/tokenizer-cost.txt"
timeout 200 "${SER[@]}" --device cuda embed --model "$M" --data "$K/pairs-500.jsonl" --cache "$H/l3.feat" > /dev/null 2> "$OUT/embed.err"
tail -2 "$OUT/embed.err" | cut -c1-400
(cd "$OUT" && tar czf logs.tgz --exclude=logs.tgz . && find . -type f ! -name logs.tgz ! -name tokenizer-cost.txt ! -name import.txt -delete)
