"""Benchmark of l2m.gaussian (chapter 03): printed figures, not a timed test.

    python benchmarks/bench_gaussian.py            # or: make bench

1. Exact I_BP at every split ℓ = 2, 4, ..., L/2 for L = 4096, against the plain way
   (three log-determinants per split, timed on a few splits and scaled to all of them).
2. Sampling a batch of 4 × 4096 × 64 with its exact conditionals (numpy float64, torch float32).
3. Layer 7 (L = 16384): covariance and the equal-split I_BP, time and peak memory, in a
   child process so that its peak is its own.
"""
from __future__ import annotations

import functools
import sys
import time

import numpy as np

from child import report, run_child  # benchmarks/child.py: peak memory in a fresh process


def timed(fn, repeat: int = 1):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best


def bench_splits(layers: int = 6) -> None:
    from l2m import gaussian

    cov, build_s = timed(lambda: gaussian.covariance(layers, "power"))
    n = len(cov)
    ells = np.arange(2, n // 2 + 1, 2)
    mi, all_s = timed(lambda: gaussian.bipartite_mi(cov, ells), repeat=2)
    logdet = lambda a: np.linalg.slogdet(a)[1]
    sample = ells[:: len(ells) // 4][:4]
    _, plain_s = timed(lambda: [0.5 * (logdet(cov[:e, :e]) + logdet(cov[e:, e:]) - logdet(cov)) for e in sample])
    plain_all = plain_s / len(sample) * len(ells)
    print(f"[splits] L = {n}: covariance {build_s:.2f} s; I_BP at all {len(ells)} even splits {all_s:.2f} s "
          f"(I_BP(L/2) = {mi[-1]:.4f} nats)")
    print(f"[splits] plain log-determinants per split: {plain_all:.0f} s estimated "
          f"-> {plain_all / all_s:.0f}x slower than the two-Cholesky profile")


def bench_sampler(layers: int = 6, batch: int = 4, channels: int = 64) -> None:
    import torch

    from l2m import gaussian

    cov = gaussian.covariance(layers, "power")
    for backend, dtype in (("numpy", np.float64), ("torch", torch.float32)):
        sampler = gaussian.GaussianSampler(cov, channels=channels, backend=backend, dtype=dtype)
        gen = np.random.default_rng(0) if backend == "numpy" else torch.Generator().manual_seed(0)
        _, seconds = timed(functools.partial(sampler.sample, batch, gen), repeat=3)
        tokens = batch * len(cov)
        print(f"[sampler] {backend} {np.dtype(dtype).name if backend == 'numpy' else str(dtype).removeprefix('torch.')}: {batch} x {len(cov)} x "
              f"{channels} with exact conditionals in {seconds * 1e3:.0f} ms ({tokens / seconds:,.0f} tokens/s)")


def layer7_child() -> None:
    from l2m import gaussian

    cov, build_s = timed(lambda: gaussian.covariance(7, "power"))
    mi, mi_s = timed(lambda: gaussian.bipartite_mi(cov, len(cov) // 2))
    report({"build_s": build_s, "mi_s": mi_s, "mi": mi})


def bench_layer7() -> None:
    r = run_child(__file__, "--layer7-child")
    print(f"[layer 7] L = 16384: covariance {r['build_s']:.1f} s, equal-split I_BP {r['mi_s']:.1f} s "
          f"(= {r['mi']:.2f} nats), peak memory {r['peak_gb']:.1f} GB of the 24 GB machine")


if __name__ == "__main__":
    if "--layer7-child" in sys.argv:
        layer7_child()
    else:
        bench_splits()
        bench_sampler()
        bench_layer7()
