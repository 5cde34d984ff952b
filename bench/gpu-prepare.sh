#!/usr/bin/env bash
# Prepares the GPU run: builds ser, packs the installed default backbone and
# 2,000 HH-RLHF pairs, and hands them to ../shared/gpu/prepare.sh as extra files.
# It prints the device calls to make; the last one runs bench/gpu.sh:
#   mkdir -p /tmp/ort && cp .gpuN/* /tmp/ort/ && source /tmp/ort/gpu-env.sh && bash bench/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export SER_HOME=${SER_HOME:-$PWD/.ser-home}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
go build -ldflags='-s -w' -o "$stage/ser" ./cmd/ser
xz -6 -T2 -c "$stage/ser" > "$stage/ser.xz"
tar czf "$stage/use-lite.tgz" -C "$SER_HOME/models" default
python3 bench/gpu_pairs.py "$stage/pairs.jsonl"
ls -la "$stage"
bash ../shared/gpu/prepare.sh "$stage/ser.xz" "$stage/use-lite.tgz" "$stage/pairs.jsonl"
