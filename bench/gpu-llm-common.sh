# Sourced by bench/gpu-llm.sh and bench/gpu-serve.sh on the GPU machine (after
# `source /tmp/ort/gpu-env.sh`): unpacks the binaries named in BINS and the
# real Llama-3 tokenizer from the kit, records the machine, exports a
# random-weight Llama-shaped fp16 model (16 x 1536, Llama-3's 128,256-token
# vocabulary) with torch.onnx.export and the tokenizer files beside it, and
# imports it with `ser models import` (max 512 tokens). Sets K, OUT, H, M.
K=${KIT:-/tmp/ort}
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
H=/tmp/serhome
mkdir -p "$H/models" /tmp/llama3-tok
for b in $BINS; do
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
