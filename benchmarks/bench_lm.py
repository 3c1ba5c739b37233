"""Benchmarks of chapter 01's scoring: printed figures (medians over repeats, run interleaved).

    python benchmarks/bench_lm.py [--repeats 3] [--windows 2]      # or: make bench

1. Forward tokens of the chapter's plan against the paper's released code (one full pass per window; per
   split one spliced and one marginal pass), at the paper's setting (L = 2048, every ratio, K = 1 pairing).
2. The chapter's real plan at L = 128 and L = 2048 (books windows, SmolLM2, fp32): the scorer
   (``l2m.lm.score_cached`` into a scratch folder: packing, KV-cache reuse for vCLUB, the log-probabilities,
   the disk writes) against a bare forward of the same model over the same passes, each run whole, with
   full logits and nothing else (the same packing into batches), and against one long forward pass of the
   same length (the ceiling). Tokens/s count the plan's tokens as the estimates read them (every pass whole);
   the scorer computes fewer (it reuses X'), so its ratio to the bare forward may pass 1.
3. Peak memory scoring one 2048-token sequence with Gemma-3-270M (262k vocabulary), in a child process so
   that the peak is its own.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from child import report, run_child  # benchmarks/child.py: peak memory in a fresh process


def bench_plan() -> None:
    from l2m import passes

    points = passes.plan_points(2048)
    plan = passes.make_plan(np.zeros((8, 2048), dtype=np.int64), points, k_pairings=1)
    ours, whole = plan.forward_tokens / 8, plan.forward_tokens_without_reuse / 8
    theirs = passes.official_forward_tokens(2048, sorted({p.ell for p in points}))
    print(f"[plan] L = 2048, {len(points)} splits, vCLUB K = 1: {ours:,.0f} forward tokens per window ({whole:,.0f} "
          f"without reusing X'), released code {theirs:,} -> {theirs / ours:.1f}x fewer")


def bare_forward(scorer, sequences) -> None:
    """The model alone over the same passes and batches: logits of every position, no log-probabilities."""
    import torch

    from l2m import lm

    lengths = [len(s) for s in sequences]
    for batch in lm._batches(lengths, scorer.batch_tokens):
        width = lengths[batch[0]]
        ids = torch.zeros((len(batch), width + 1), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, i in enumerate(batch):
            ids[row, 0], ids[row, 1 : lengths[i] + 1], mask[row, : lengths[i] + 1] = scorer.bos_id, torch.as_tensor(sequences[i]), 1
        with torch.no_grad():
            scorer.model(input_ids=ids, attention_mask=mask).logits.sum().item()


def bench_real_plan(scorer, max_len: int, windows: int, repeats: int, pairings: int) -> None:
    from l2m import bipartite, chapters, lm, passes

    cfg = chapters.HilbergChapter()
    found, _ = bipartite.corpus_windows(scorer, "books", windows, max_len, 0, "random")
    plan = passes.make_plan(found, passes.plan_points(max_len, cfg.ratios, cfg.other_ratios_max_len), pairings, 0)
    tokens = plan.forward_tokens_without_reuse
    long = [found[0, :max_len]]
    timings: dict[str, list[float]] = {"scorer": [], "bare": [], "long": []}
    for _ in range(repeats):  # interleaved, so that the machine's load falls on all three alike
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            lm.score_cached(scorer, plan.sequences, Path(folder), progress=False, extends=plan.extends)
            timings["scorer"].append(time.perf_counter() - start)
        start = time.perf_counter()
        bare_forward(scorer, plan.sequences)
        timings["bare"].append(time.perf_counter() - start)
        start = time.perf_counter()
        bare_forward(scorer, long)
        timings["long"].append(time.perf_counter() - start)
    ours, bare = statistics.median(timings["scorer"]), statistics.median(timings["bare"])
    ceiling = (max_len + 1) / statistics.median(timings["long"])
    ratios = [b / s for s, b in zip(timings["scorer"], timings["bare"])]
    print(f"[real plan] L = {max_len}, {windows} windows, K = {pairings}, {len(plan.sequences)} passes, {tokens:,} tokens "
          f"({plan.forward_tokens:,} computed): scorer {tokens / ours:.0f} tok/s, bare forward {tokens / bare:.0f} tok/s "
          f"-> ratio {statistics.median(ratios):.2f} (runs {', '.join(f'{r:.2f}' for r in ratios)}; target >= 0.85); "
          f"one {max_len}-token forward {ceiling:.0f} tok/s (scorer at {tokens / ours / ceiling:.2f} of it)")


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
        from l2m import chapters, lm

        parser = argparse.ArgumentParser()
        parser.add_argument("--repeats", type=int, default=3)
        parser.add_argument("--windows", type=int, default=2, help="windows of the L = 2048 plan (8x as many at 128)")
        parser.add_argument("--pairings", type=int, default=chapters.HilbergChapter().k_pairings, help="vCLUB pairings K")
        args = parser.parse_args()
        bench_plan()
        smollm2 = lm.TransformersScorer("smollm2-135m")
        bench_real_plan(smollm2, 128, 8 * args.windows, args.repeats, args.pairings)
        bench_real_plan(smollm2, 2048, args.windows, args.repeats, args.pairings)
        bench_gemma_memory()
