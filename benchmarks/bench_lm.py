"""Benchmarks of chapter 01's scoring: printed figures, one run.

    python benchmarks/bench_lm.py            # or: make bench

1. Forward tokens of our plan against the paper's released code (one full pass per window; per split
   one spliced and one marginal pass), at the paper's setting (L = 2048, K = 1 vCLUB pairing).
2. Scoring throughput of l2m.lm.TransformersScorer against a bare forward pass of the same model
   (full logits, no log-softmax) on the same batches of tokens.
3. Peak memory scoring one 2048-token sequence with Gemma-3-270M (262k vocabulary), in a child
   process so that the peak is its own.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from child import report, run_child  # benchmarks/child.py: peak memory in a fresh process


def bench_plan() -> None:
    from l2m import bipartite

    points = bipartite.plan_points(2048)
    plan = bipartite.make_plan(np.zeros((8, 2048), dtype=np.int64), points, k_pairings=1)
    ours = plan.forward_tokens / 8
    theirs = bipartite.official_forward_tokens(2048, sorted({p.ell for p in points}))
    print(f"[plan] L = 2048, {len(points)} splits, vCLUB K = 1: {ours:,.0f} forward tokens per window, released "
          f"code {theirs:,} -> {theirs / ours:.1f}x fewer (expected 40,983 / 12,295 = 3.3x)")


def bench_throughput(n_seq: int = 8, length: int = 512) -> None:
    import torch

    from l2m import lm

    scorer = lm.TransformersScorer("smollm2-135m", batch_tokens=2048)
    rng = np.random.default_rng(0)
    sequences = [rng.integers(0, scorer.model.config.vocab_size, length) for _ in range(n_seq)]
    scorer.score(sequences[:1])  # warm-up
    start = time.perf_counter()
    scorer.score(sequences)
    ours = time.perf_counter() - start
    batch = 2048 // (length + 1)
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, n_seq, batch):
            ids = torch.tensor([[scorer.bos_id, *s] for s in sequences[i : i + batch]])
            scorer.model(ids).logits.sum().item()
    bare = time.perf_counter() - start
    tokens = n_seq * (length + 1)
    print(f"[throughput] smollm2-135m fp32, {n_seq} x {length} tokens: scorer {tokens / ours:.0f} tok/s, bare forward "
          f"{tokens / bare:.0f} tok/s -> ratio {bare / ours:.2f} (target >= 0.85)")


def gemma_child() -> None:
    from l2m import lm

    scorer = lm.TransformersScorer("gemma3-270m")
    ids = np.random.default_rng(0).integers(0, 262_144, 2048)
    start = time.perf_counter()
    scorer.score([ids])
    seconds = time.perf_counter() - start
    report({"seconds": seconds})


def bench_gemma_memory() -> None:
    r = run_child(__file__, "--gemma-child")
    print(f"[memory] gemma3-270m fp32, one 2048-token sequence: peak {r['peak_gb']:.2f} GB (target < 4 GB), "
          f"{2048 / r['seconds']:.0f} tok/s")


if __name__ == "__main__":
    if "--gemma-child" in sys.argv:
        gemma_child()
    else:
        bench_plan()
        bench_throughput()
        bench_gemma_memory()
