"""GPU helpers for bench/gpu.sh, run on the lent GPU machine (PyTorch, transformers,
onnx and tokenizers are there).

  export   build a random-weight model of a given shape, export it with
           torch.onnx.export (inputs input_ids, attention_mask; output
           last_hidden_state) and write a ser backbone folder (manifest.json,
           model.onnx [+ external data], tokenizer.json)
  eager    time the same model (same seed, so the same weights) in PyTorch
           eager on the same texts, tokenized with the same tokenizer.json and
           batched with ser's CUDA policy (sorted by length, at most 32,768
           padded tokens and 256 rows a batch)
  compare  max |a - b| and relative error of two .npy arrays
"""
import argparse
import hashlib
import inspect
import json
import os
import shutil
import sys
import time

SHAPES = {
    # BERT-base: 12 layers, 768 wide, 110M parameters
    "bert": dict(hidden=768, layers=12, heads=12, inter=3072, vocab=30522, pooling="mean", max_tokens=256),
    # Llama-shaped decoder: 16 layers, 1536 wide, about 0.5B parameters
    "llama": dict(hidden=1536, layers=16, heads=12, inter=4096, vocab=32000, pooling="last", max_tokens=512),
    # the same with Llama-3's vocabulary, for its real tokenizer (imported with ser models import)
    "llama3": dict(hidden=1536, layers=16, heads=12, inter=4096, vocab=128256, pooling="last", max_tokens=512),
}


def build(kind, dtype, attn):
    import torch
    import transformers as tf
    s = SHAPES[kind]
    torch.manual_seed(1234)
    if kind == "bert":
        cfg = tf.BertConfig(hidden_size=s["hidden"], num_hidden_layers=s["layers"], num_attention_heads=s["heads"],
                            intermediate_size=s["inter"], vocab_size=s["vocab"], attn_implementation=attn)
        model = tf.BertModel(cfg, add_pooling_layer=False)
    else:
        extra = dict(bos_token_id=128000, eos_token_id=128001) if kind == "llama3" else {}
        cfg = tf.LlamaConfig(**extra, hidden_size=s["hidden"], num_hidden_layers=s["layers"], num_attention_heads=s["heads"],
                             num_key_value_heads=s["heads"], intermediate_size=s["inter"], vocab_size=s["vocab"],
                             max_position_embeddings=4096, use_cache=False, attn_implementation=attn)
        model = tf.LlamaModel(cfg)
    model = model.eval().cuda()
    if dtype == "fp16":
        model = model.half()
    return model


def export(a):
    import torch
    model = build(a.kind, a.dtype, "eager")

    class Out(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            return self.m(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state \
                if a.kind != "bert" else self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    wrapped = Out(model).eval()
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "model.onnx")
    ids = torch.randint(10, 7000, (2, 16), device="cuda")
    mask = torch.ones_like(ids)
    kw = dict(input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"], opset_version=17,
              dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                            "last_hidden_state": {0: "batch", 1: "tokens"}})
    params = inspect.signature(torch.onnx.export).parameters
    if "dynamo" in params:
        kw["dynamo"] = False
    if "external_data" in params:
        kw["external_data"] = True
    start = time.time()
    with torch.no_grad():
        try:
            torch.onnx.export(wrapped, (ids, mask), path, **kw)
        except Exception as e:  # the TorchScript exporter may not trace this model: try the dynamo one
            print(f"TorchScript export failed ({e}); trying dynamo=True", file=sys.stderr)
            kw["dynamo"] = True
            torch.onnx.export(wrapped, (ids, mask), path, **kw)
    took = time.time() - start
    n_params = sum(p.numel() for p in model.parameters())
    if a.tokenizer_dir:  # an optimum-like folder for ser models import: config.json and the tokenizer files
        model.config.save_pretrained(a.out)
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(a.tokenizer_dir, f), os.path.join(a.out, f))
        print(json.dumps({"kind": a.kind, "dtype": a.dtype, "params": n_params, "export_s": took,
                          "files": len(os.listdir(a.out))}))
        return
    shutil.copy(a.tokenizer, os.path.join(a.out, "tokenizer.json"))
    s = SHAPES[a.kind]
    files = []
    for name in sorted(os.listdir(a.out)):
        if name == "manifest.json":
            continue
        h = hashlib.sha256()
        with open(os.path.join(a.out, name), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 24), b""):
                h.update(chunk)
        files.append({"name": name, "sha256": h.hexdigest(), "size": os.path.getsize(os.path.join(a.out, name))})
    manifest = {
        "name": os.path.basename(a.out.rstrip("/")),
        "description": f"random-weight {a.kind} shape, {n_params / 1e6:.0f}M parameters, {a.dtype}, exported with torch.onnx.export (benchmark only)",
        "files": files, "model": "model.onnx", "tokenizer": "tokenizer.json", "tokenizer_kind": "unigram",
        "input": "ids-mask", "output": "last_hidden_state", "pooling": s["pooling"], "dim": s["hidden"],
        "pad_id": 0, "max_tokens": s["max_tokens"], "truncate": "head",
        "pair_template": "{prompt}\n\n{response}", "features": "joint",
    }
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(json.dumps({"kind": a.kind, "dtype": a.dtype, "params": n_params, "export_s": took,
                      "bytes": sum(x["size"] for x in files)}))


def texts_of(pairs_path, template="{prompt}\n\n{response}"):
    seen, out = set(), []
    with open(pairs_path) as f:
        for line in f:
            p = json.loads(line)
            for r in (p["chosen"], p["rejected"]):
                t = template.replace("{prompt}", p["prompt"]).replace("{response}", r)
                if t not in seen:
                    seen.add(t)
                    out.append(t)
    return out


def eager(a):
    import torch
    from tokenizers import Tokenizer
    s = SHAPES[a.kind]
    model = build(a.kind, a.dtype, "sdpa")
    tok = Tokenizer.from_file(a.tokenizer)
    texts = texts_of(a.pairs)
    ids = [e.ids[: s["max_tokens"]] for e in tok.encode_batch(texts)]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    batches, cur = [], []
    for i in order:
        longest = max(1, len(ids[i]))
        if cur and ((len(cur) + 1) * longest > 32768 or len(cur) == 256):
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)

    def run(batch):
        t = max(1, max(len(ids[i]) for i in batch))
        x = torch.zeros((len(batch), t), dtype=torch.long)
        m = torch.zeros((len(batch), t), dtype=torch.long)
        for r, i in enumerate(batch):
            x[r, : len(ids[i])] = torch.tensor(ids[i])
            m[r, : len(ids[i])] = 1
        x, m = x.cuda(non_blocking=True), m.cuda(non_blocking=True)
        h = model(input_ids=x, attention_mask=m).last_hidden_state
        if s["pooling"] == "mean":
            mf = m.unsqueeze(-1).to(h.dtype)
            v = (h * mf).sum(1) / mf.sum(1).clamp(min=1)
        else:
            last = m.sum(1) - 1
            v = h[torch.arange(len(batch), device=h.device), last]
        return v.float().cpu()

    with torch.inference_mode():
        for b in batches[:2]:
            run(b)
        torch.cuda.synchronize()
        start = time.time()
        for b in batches:
            run(b)
        torch.cuda.synchronize()
        took = time.time() - start
    tokens = sum(len(x) for x in ids)
    print(json.dumps({"kind": a.kind, "dtype": a.dtype, "texts": len(texts), "tokens": tokens, "seconds": took,
                      "tokens_per_s": tokens / took, "batches": len(batches)}))


def compare(a):
    import numpy as np
    x, y = np.load(a.a).astype(np.float64), np.load(a.b).astype(np.float64)
    print(json.dumps({"max_abs": float(np.abs(x - y).max()), "rel": float(np.linalg.norm(x - y) / np.linalg.norm(x)),
                      "shape": list(x.shape)}))


def table(a):
    """Prints the results bench/gpu.sh left in a folder as one table."""
    d = a.dir

    def load(name):
        try:
            with open(os.path.join(d, name)) as f:
                return json.loads(f.read().strip().splitlines()[-1])
        except Exception:
            return None

    def ser_rate(name):
        try:
            with open(os.path.join(d, name)) as f:
                for line in f:
                    if "tokens/s" in line and "embedded" in line:
                        part = line.split(" in ")[1]
                        secs = float(part.split("s:")[0])
                        toks = int(line.split("(")[1].split(" tokens")[0])
                        return toks, secs
        except Exception:
            pass
        return None

    print("== default backbone (USE-lite) on CUDA against the CPU")
    c = load("use-compare.json")
    for dev in ("cpu", "cuda"):
        r = ser_rate(f"use-{dev}.err")
        if r:
            print(f"  ser embed --device {dev:4s}: {r[0]} tokens in {r[1]:.2f}s = {r[0] / r[1]:,.0f} tokens/s")
    if c:
        print(f"  max |cuda - cpu| over {c['shape']} = {c['max_abs']:.2e} (relative {c['rel']:.2e})")
    print("== random-weight models, same texts, same batching; tokens/s (real tokens, padding not counted)")
    print(f"  {'model':12s} {'params':>8s} {'ORT CUDA via ser':>18s} {'PyTorch eager':>15s} {'ratio':>7s}")
    for m in ("bert-fp32", "bert-fp16", "llama-fp32", "llama-fp16"):
        ex, eg, sr = load(f"export-{m}.json"), load(f"eager-{m}.json"), ser_rate(f"ser-{m}.err")
        params = f"{ex['params'] / 1e6:.0f}M" if ex else "?"
        s_rate = sr[0] / sr[1] if sr else None
        e_rate = eg["tokens_per_s"] if eg else None
        ratio = f"{s_rate / e_rate:.2f}x" if s_rate and e_rate else "-"
        fmt = lambda v: f"{v:,.0f}" if v else "failed"
        print(f"  {m:12s} {params:>8s} {fmt(s_rate):>18s} {fmt(e_rate):>15s} {ratio:>7s}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--kind", choices=SHAPES)
    e.add_argument("--dtype", choices=["fp32", "fp16"])
    e.add_argument("--out")
    e.add_argument("--tokenizer")
    e.add_argument("--tokenizer-dir", help="write config.json and copy tokenizer.json and tokenizer_config.json from here instead of a manifest")
    g = sub.add_parser("eager")
    g.add_argument("--kind", choices=SHAPES)
    g.add_argument("--dtype", choices=["fp32", "fp16"])
    g.add_argument("--pairs")
    g.add_argument("--tokenizer")
    t = sub.add_parser("table")
    t.add_argument("dir")
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    a = p.parse_args()
    {"export": export, "eager": eager, "compare": compare, "table": table}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
