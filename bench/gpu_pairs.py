"""Writes 2,000 HH-RLHF pairs from ../shared/data (round-robin over the four
subsets' test splits, each transcript split at the last turn both share) as
JSONL {prompt, chosen, rejected}, for the GPU scripts' kits.

  python3 bench/gpu_pairs.py OUT.jsonl
"""
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
