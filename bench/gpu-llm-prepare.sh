#!/usr/bin/env bash
# Prepares bench/gpu-llm.sh's and bench/gpu-serve.sh's runs: builds ser, bench/backbone and bench/serve, packs the real
# Llama-3 tokenizer files (fetched by the tokenizer tests under the ser home)
# and 2,000 HH-RLHF pairs, and hands them to ../shared/gpu/prepare.sh as extra
# files. It prints the device calls to make; the last one runs:
#   mkdir -p /tmp/ort && cp .gpuN/* /tmp/ort/ && source /tmp/ort/gpu-env.sh && bash bench/gpu-llm.sh
# (or bench/gpu-serve.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
export SER_HOME=${SER_HOME:-$PWD/.ser-home}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
go build -ldflags='-s -w' -o "$stage/ser" ./cmd/ser
go build -ldflags='-s -w' -o "$stage/bench-backbone" ./bench/backbone
go build -ldflags='-s -w' -o "$stage/bench-serve" ./bench/serve
xz -6 -T2 -c "$stage/ser" > "$stage/ser.xz"
xz -6 -T2 -c "$stage/bench-backbone" > "$stage/bench-backbone.xz"
xz -6 -T2 -c "$stage/bench-serve" > "$stage/bench-serve.xz"
tok=$(go run ./bench/tokenizers -home "$SER_HOME" -families llama3 -dump-corpus "$stage/corpus.jsonl" | cut -d= -f2)
tar czf "$stage/llama3-tok.tgz" -C "$(dirname "$tok")" tokenizer.json tokenizer_config.json
python3 bench/gpu_pairs.py "$stage/pairs.jsonl"
ls -la "$stage"
bash ../shared/gpu/prepare.sh "$stage/ser.xz" "$stage/bench-backbone.xz" "$stage/bench-serve.xz" "$stage/llama3-tok.tgz" "$stage/pairs.jsonl"
