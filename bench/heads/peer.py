"""The peers of the heads benchmark, on the features the Go side exported.

scikit-learn's LogisticRegression (the accuracy reference and the linear
head's speed peer) and a PyTorch MLP of the same shape, optimiser and early
stopping as ser's MLP head (its speed peer). Both standardise as ser does
(mean and sd over the training pairs' responses) and fit the Bradley-Terry
model: a logistic regression on the difference of a pair's features, each
pair in both orders, no intercept.

    python3 peer.py DIR   (DIR holds a.npy, b.npy and splits.json)  -> JSON on stdout

PyTorch's threads come from TORCH_THREADS (default 2), OpenBLAS's (numpy's
and, through libblas, PyTorch's) from OPENBLAS_NUM_THREADS; the caller sets
both:
the benchmark runs the peers under each combination and keeps the fastest.
"""
import json
import os
import sys
import time

import numpy as np


def standardise(a, b, tr):
    both = np.concatenate([a[tr], b[tr]])
    mean, sd = both.mean(0), both.std(0)
    sd[sd < 1e-8] = np.inf
    return (a - mean) / sd, (b - mean) / sd


def sklearn_lr(a, b, tr, te, C):
    from sklearn.linear_model import LogisticRegression
    za, zb = standardise(a, b, tr)
    d = za - zb
    x = np.concatenate([d[tr], -d[tr]])
    y = np.concatenate([np.ones(len(tr)), np.zeros(len(tr))])
    start = time.perf_counter()
    lr = LogisticRegression(C=C, fit_intercept=False, max_iter=1000).fit(x, y)
    seconds = time.perf_counter() - start
    pred = d[te] @ lr.coef_[0] > 0
    return float(np.mean(pred)), seconds, [bool(v) for v in pred]


def torch_mlp(a, b, tr, va, te, hidden, seed):
    import torch
    torch.manual_seed(seed)
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))
    za, zb = standardise(a, b, tr)
    za, zb = torch.tensor(za, dtype=torch.float64), torch.tensor(zb, dtype=torch.float64)
    model = torch.nn.Sequential(torch.nn.Linear(za.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)).double()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    tr_t, va_t = torch.tensor(tr), torch.tensor(va)
    best, best_state, since, epochs = float("inf"), None, 0, 0
    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for epoch in range(60):
        epochs += 1
        perm = tr_t[torch.randperm(len(tr_t), generator=g)]
        for s in range(0, len(perm), 128):
            idx = perm[s:s + 128]
            loss = torch.nn.functional.softplus(-(model(za[idx]) - model(zb[idx]))).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            vl = torch.nn.functional.softplus(-(model(za[va_t]) - model(zb[va_t]))).mean().item()
        if vl < best - 1e-6:
            best, since = vl, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            since += 1
            if since >= 6:
                break
    seconds = time.perf_counter() - start
    model.load_state_dict(best_state)
    with torch.no_grad():
        acc = float((model(za[te]) > model(zb[te])).double().mean())
    return acc, seconds, epochs


def main():
    d = sys.argv[1]
    a, b = np.load(d + "/a.npy").astype(np.float64), np.load(d + "/b.npy").astype(np.float64)
    jobs = json.load(open(d + "/splits.json"))
    out = []
    for job in jobs:
        tr, te = np.array(job["train"]), np.array(job["test"])
        r = {"name": job["name"]}
        if job.get("sklearn"):
            r["sklearn_acc"], r["sklearn_s"], r["sklearn_pred"] = sklearn_lr(a, b, tr, te, job.get("C", 1.0))
        if job.get("torch"):
            va = np.array(job["val"])
            r["torch_acc"], r["torch_s"], r["torch_epochs"] = torch_mlp(a, b, tr, va, te, job["hidden"], job.get("seed", 1))
        out.append(r)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
