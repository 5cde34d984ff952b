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
#  4. `ser embed --device cuda` on the same pairs, as a user runs it;
#  5. the same with the pooling on the host and in the graph (--pool-in), on
#     all 2,000 pairs: each one's rate, and how far apart their vectors are.
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
for where in host graph; do
  timeout 200 "${SER[@]}" --device cuda --pool-in "$where" embed --model "$M" --data "$K/pairs.jsonl" --cache "$H/l3-$where.feat" --out "$OUT/vec-$where.npy" > /dev/null 2> "$OUT/embed-$where.err"
  echo "pool in $where: $(grep -E 'tokens/s' "$OUT/embed-$where.err" | tail -1 | cut -c1-300)" | tee -a "$OUT/pool-in.txt"
done
python3 -c "import numpy as np,sys; a=np.load(sys.argv[1]); b=np.load(sys.argv[2]); a,b=a.reshape(-1,a.shape[-1]),b.reshape(-1,b.shape[-1]); print('pool in graph vs host: max |diff| %.3g, max relative %.3g, over %d texts' % (abs(a-b).max(), (abs(a-b).max(axis=1)/np.maximum(abs(a).max(axis=1),1e-30)).max(), len(a)))" "$OUT/vec-host.npy" "$OUT/vec-graph.npy" | tee -a "$OUT/pool-in.txt"
rm -f "$OUT"/vec-*.npy "$OUT"/vec-*.ids.json
(cd "$OUT" && tar czf logs.tgz --exclude=logs.tgz . && find . -type f ! -name logs.tgz ! -name tokenizer-cost.txt ! -name import.txt ! -name pool-in.txt -delete)
