#!/usr/bin/env bash
# All GPU checks in one script, for the last call of ../shared/gpu's kit (after
# `source /tmp/ort/gpu-env.sh`, which sets ORT_LIB and LD_LIBRARY_PATH). The kit
# carries, beside the ONNX Runtime libraries, the extra files made by
# bench/gpu-prepare.sh: ser.xz (the binary), use-lite.tgz (the installed default
# backbone) and pairs.jsonl (2,000 HH-RLHF pairs from ../shared/data).
#
#  1. the default backbone on CUDA against the CPU: max |difference| and tokens/s;
#  2. random-weight BERT-base and Llama-shaped (~0.5B) models exported with
#     torch.onnx.export in fp32 and fp16 (outputs read back as float32);
#  3. for each, `ser embed --device cuda` against PyTorch eager on the same GPU,
#     the same texts and the same batching; a table at the end.
# Results and logs go to $OUT (the device tool brings them back).
set -uo pipefail
cd "$(dirname "$0")/.."
K=${KIT:-/tmp/ort}
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
H=/tmp/serhome
mkdir -p "$H/models"
python3 -c "import lzma,shutil; shutil.copyfileobj(lzma.open('$K/ser.xz'), open('/tmp/ser','wb'))" && chmod +x /tmp/ser
tar xzf "$K/use-lite.tgz" -C "$H/models"
SER=(/tmp/ser --home "$H" --ort-lib "$ORT_LIB")
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers, onnx; print('torch', torch.__version__, 'transformers', transformers.__version__, 'onnx', onnx.__version__)" | tee -a "$OUT/gpu.txt"

# exports run in the background while the default backbone is checked
for m in bert-fp32 bert-fp16 llama-fp32 llama-fp16; do
  (timeout 240 python3 bench/gpu.py export --kind "${m%-*}" --dtype "${m#*-}" --out "$H/models/$m" \
     --tokenizer "$H/models/default/tokenizer.json" > "$OUT/export-$m.json" 2> "$OUT/export-$m.err") &
done

"${SER[@]}" --threads 16 embed --data "$K/pairs.jsonl" --cache "$H/use-cpu.feat" --out "$OUT/use-cpu.npy" > /dev/null 2> "$OUT/use-cpu.err"
"${SER[@]}" --device cuda embed --data "$K/pairs.jsonl" --cache "$H/use-cuda.feat" --out "$OUT/use-cuda.npy" > /dev/null 2> "$OUT/use-cuda.err"
python3 bench/gpu.py compare "$OUT/use-cpu.npy" "$OUT/use-cuda.npy" > "$OUT/use-compare.json" 2>> "$OUT/use-cuda.err"
tail -2 "$OUT/use-cpu.err" "$OUT/use-cuda.err"
wait
head -1000 "$K/pairs.jsonl" > "$K/pairs-1k.jsonl"
for m in bert-fp32 bert-fp16 llama-fp32 llama-fp16; do
  P="$K/pairs.jsonl"
  [ "${m%-*}" = llama ] && P="$K/pairs-1k.jsonl"
  tail -1 "$OUT/export-$m.json" "$OUT/export-$m.err" 2>/dev/null | cut -c1-300
  [ -f "$H/models/$m/manifest.json" ] || continue
  timeout 120 "${SER[@]}" --device cuda embed --model "$H/models/$m" --data "$P" --cache "$H/$m.feat" > /dev/null 2> "$OUT/ser-$m.err"
  tail -1 "$OUT/ser-$m.err" | cut -c1-300
  timeout 120 python3 bench/gpu.py eager --kind "${m%-*}" --dtype "${m#*-}" --pairs "$P" \
     --tokenizer "$H/models/default/tokenizer.json" > "$OUT/eager-$m.json" 2> "$OUT/eager-$m.err"
  tail -1 "$OUT/eager-$m.json" "$OUT/eager-$m.err" | cut -c1-300
  python3 bench/gpu.py table "$OUT" > "$OUT/table.txt"
done
python3 bench/gpu.py table "$OUT" | tee "$OUT/table.txt"
# the device tool brings back at most 8 files: the logs travel as one archive
(cd "$OUT" && tar czf logs.tgz --exclude=table.txt --exclude=logs.tgz --exclude='*.npy' . && find . -type f ! -name table.txt ! -name logs.tgz -delete)
