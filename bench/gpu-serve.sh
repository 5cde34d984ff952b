#!/usr/bin/env bash
# The GPU check of `ser serve`, for the last call of ../shared/gpu's kit (after
# `source /tmp/ort/gpu-env.sh`); bench/gpu-serve-prepare.sh made the extra files.
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
K=${KIT:-/tmp/ort}
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
H=/tmp/serhome
mkdir -p "$H/models" /tmp/llama3-tok
for b in ser bench-serve; do
  python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$K/$b.xz" "/tmp/$b" && chmod +x "/tmp/$b"
done
tar xzf "$K/llama3-tok.tgz" -C /tmp/llama3-tok
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
nproc | sed 's/^/cpu cores: /' | tee -a "$OUT/gpu.txt"
M="$H/models/llama3-fp16"
timeout 300 python3 bench/gpu.py export --kind llama3 --dtype fp16 --out "$M" --tokenizer-dir /tmp/llama3-tok > "$OUT/export.json" 2> "$OUT/export.err"
tail -n 1 "$OUT/export.json" "$OUT/export.err" | cut -c1-400
timeout 300 /tmp/ser --home "$H" --ort-lib "$ORT_LIB" --device cuda models import --max-tokens 512 "$M" > "$OUT/import.txt" 2>&1
cut -c1-400 "$OUT/import.txt"
head -1000 "$K/pairs.jsonl" > /tmp/train.jsonl
tail -n +1001 "$K/pairs.jsonl" > /tmp/test.jsonl
timeout 330 /tmp/bench-serve -home "$H" -ort-lib "$ORT_LIB" -device cuda -model "$M" -ser /tmp/ser \
  -train /tmp/train.jsonl -split /tmp/test.jsonl -pairs 1000 -rounds 2 -tolerance 0.02 > "$OUT/serve-gpu.txt" 2>&1
cat "$OUT/serve-gpu.txt"
