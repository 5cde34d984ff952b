"""Where PyTorch's MLP epoch goes: one epoch of the heads benchmark's MLP
(6,131 pairs of 1,024 random features, batch 128, AdamW) against the same
number of its two matrix products alone (256 x 1,024 x 64 each), in float64
and float32.

    OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=2 TORCH_THREADS=1 python3 bench/heads/torch_step.py
"""
import os
import time

import torch

torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
d, h, n = 1024, 64, 6131
for dt in (torch.float64, torch.float32):
    torch.manual_seed(1)
    z = torch.randn(2 * n, d, dtype=dt)
    model = torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.ReLU(), torch.nn.Linear(h, 1)).to(dt)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    za, zb = z[:n], z[n:]
    perm = torch.randperm(n)
    start, steps = time.perf_counter(), 0
    for s in range(0, n, 128):
        idx = perm[s:s + 128]
        loss = torch.nn.functional.softplus(-(model(za[idx]) - model(zb[idx]))).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    epoch = time.perf_counter() - start
    x, w, g = z[:256].clone(), torch.randn(h, d, dtype=dt), torch.randn(256, h, dtype=dt)
    start = time.perf_counter()
    for _ in range(steps):
        x @ w.T
        g.T @ x
    products = time.perf_counter() - start
    print(f"{dt}: epoch {epoch:.3f} s ({steps} steps), its products alone {products:.3f} s")
