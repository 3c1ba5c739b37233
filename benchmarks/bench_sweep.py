"""Benchmark of l2m.sweep (chapter 05): printed figures, not a timed test.

    python benchmarks/bench_sweep.py [--runs 4] [--steps 300]

The same small grid (tiny GPT2 and Mamba at L = 16 and 64, 8 channels) is swept twice into fresh
caches: once with one worker (papermill processes one after another, torch on every core), once
with two workers (two papermill processes at once, each on half the cores). Printed: wall time
of each and their ratio (the target on 2 cores is at least 1.2× faster with two workers), and
the papermill overhead per run (wall time minus the runs' own training time).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from l2m import sweep


def sweep_once(points: list[dict], workers: int) -> tuple[float, float]:
    """(wall seconds, summed training seconds) of one sweep into an empty cache."""
    with tempfile.TemporaryDirectory() as folder:
        os.environ["L2M_CACHE"] = folder  # the papermill kernels inherit it
        start = time.perf_counter()
        finished = sweep.execute(points, Path(folder) / "notebooks", progress=False, workers=workers)
        wall = time.perf_counter() - start
    return wall, sum(r.train_s for r in finished)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    grid = [{"arch": ["gpt2", "mamba"], "layers": [2, 3]}]
    shared = {"size": "tiny", "channels": 8, "steps": args.steps, "warmup": 20, "eval_sequences": 32}
    points = sweep.expand(grid, shared, tokens_per_step=1024)
    print(f"{len(points)} runs of {args.steps} steps, {os.cpu_count()} cores")
    one, train_one = sweep_once(points, workers=1)
    two, train_two = sweep_once(points, workers=2)
    print(f"one worker : {one:6.1f} s wall, {train_one:6.1f} s training, overhead {(one - train_one) / len(points):.1f} s a run")
    print(f"two workers: {two:6.1f} s wall, {train_two:6.1f} s training (summed over both)")
    print(f"two workers are {one / two:.2f}x faster (target ≥ 1.2 on 2 cores)")


if __name__ == "__main__":
    main()
