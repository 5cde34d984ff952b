#!/usr/bin/env bash
# Prepares bench/gpu-llm.sh's run: builds ser and bench/backbone, packs the real
# Llama-3 tokenizer files (fetched by the tokenizer tests under the ser home)
# and 2,000 HH-RLHF pairs, and hands them to ../shared/gpu/prepare.sh as extra
# files. It prints the device calls to make; the last one runs:
#   mkdir -p /tmp/ort && cp .gpuN/* /tmp/ort/ && source /tmp/ort/gpu-env.sh && bash bench/gpu-llm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export SER_HOME=${SER_HOME:-$PWD/.ser-home}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
go build -ldflags='-s -w' -o "$stage/ser" ./cmd/ser
go build -ldflags='-s -w' -o "$stage/bench-backbone" ./bench/backbone
xz -6 -T2 -c "$stage/ser" > "$stage/ser.xz"
xz -6 -T2 -c "$stage/bench-backbone" > "$stage/bench-backbone.xz"
tok=$(go run ./bench/tokenizers -home "$SER_HOME" -families llama3 -dump-corpus "$stage/corpus.jsonl" | cut -d= -f2)
tar czf "$stage/llama3-tok.tgz" -C "$(dirname "$tok")" tokenizer.json tokenizer_config.json
python3 - "$stage/pairs.jsonl" <<'PY'
import gzip, json, glob, sys, itertools
files = sorted(glob.glob("../shared/data/hh-rlhf/*/test.jsonl.gz"))
readers = [gzip.open(f, "rt") for f in files]
out, mark = [], "\n\nAssistant:"
for lines in itertools.zip_longest(*readers):
    for line in lines:
        if line is None or len(out) >= 2000:
            continue
        o = json.loads(line)
        c, r = o["chosen"], o["rejected"]
        n = 0
        while n < min(len(c), len(r)) and c[n] == r[n]:
            n += 1
        i = c[:n].rfind(mark)
        if i < 0:
            continue
        out.append({"prompt": c[:i].strip(), "chosen": c[i + len(mark):].strip(), "rejected": r[i + len(mark):].strip()})
with open(sys.argv[1], "w") as f:
    for p in out:
        f.write(json.dumps(p) + "\n")
PY
ls -la "$stage"
bash ../shared/gpu/prepare.sh "$stage/ser.xz" "$stage/bench-backbone.xz" "$stage/llama3-tok.tgz" "$stage/pairs.jsonl"
