"""Benchmark of l2m.train (chapter 04): printed figures, not a timed test.

    python benchmarks/bench_train.py [--arch gpt2 mamba2] [--steps 300]

At the chapter's default parameters (tiny models, L = 64, 8 channels, batch 16), for each arch:

1. the time to draw a Gaussian batch with its exact conditionals, as a fraction of one whole
   training step (forward, KL, backward, clip, AdamW, schedule): the target is at most 10 %;
2. the training loop's tokens/s (train.train's steps: data, KL, backward, clip, AdamW, progress bar,
   checkpoints) against a bare forward + backward of the same model on one fixed batch: the target is
   at least 0.9. Bare passes of a twin model run every 5th step inside the same run (from its callback),
   so that both numbers see the same load when other processes share the cores.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

from l2m import config, tasks, train
from l2m.params import validate


def per_call(fn, repeat: int) -> float:
    """Seconds per call, the best of three rounds of ``repeat`` calls (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - start) / repeat)
    return best


def bench(arch: str, steps: int) -> None:
    cfg = validate(config.TrainConfig, arch=arch, steps=steps, warmup=10, device="cpu", checkpoint_every=100)
    device = torch.device("cpu")
    task = tasks.make_task(cfg, device)
    model = train.build(cfg, task)
    opt, schedule = train.optimizer_and_schedule(model, cfg)
    batch = task.sample(0, cfg.batch)

    def data() -> None:
        task.sample(train._seed(cfg.seed, 1), cfg.batch)

    def whole_step() -> None:
        step_batch = task.sample(train._seed(cfg.seed, 1), cfg.batch)
        loss = task.loss(model(step_batch.inputs), step_batch).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        loss.item()
        opt.step()
        schedule.step()

    data_s, step_s = per_call(data, 200), per_call(whole_step, 30)
    print(f"[{arch}] data + exact conditionals {data_s * 1e3:.3f} ms of a {step_s * 1e3:.1f} ms training step: "
          f"{data_s / step_s:.1%} (target ≤ 10%)")

    # The loop's steps and bare passes of a twin model alternate inside one run, so both see the same
    # load from other processes; the callback's own time is left out of the loop's step times.
    twin = train.build(cfg, task)
    loop_s, bare_s, last = [], [], [0.0]

    def callback(step: int, loss: float, _model: torch.nn.Module) -> None:
        if step > 1:
            loop_s.append(time.perf_counter() - last[0])
        if step % 5 == 0:
            start = time.perf_counter()
            twin.zero_grad(set_to_none=True)
            task.loss(twin(batch.inputs), batch).mean().backward()
            bare_s.append(time.perf_counter() - start)
        last[0] = time.perf_counter()

    with tempfile.TemporaryDirectory() as folder:
        train.train(cfg, folder, progress=True, callback=callback)
    tokens = cfg.batch * cfg.seq_len
    mean_ratio = statistics.fmean(bare_s) / statistics.fmean(loop_s)
    median_ratio = statistics.median(bare_s) / statistics.median(loop_s)
    print(f"[{arch}] training loop {tokens / statistics.fmean(loop_s):,.0f} tokens/s over {steps} steps (progress bar, "
          f"checkpoints every {cfg.checkpoint_every}); bare forward + backward {tokens / statistics.fmean(bare_s):,.0f} "
          f"tokens/s: ratio {mean_ratio:.2f} of means, {median_ratio:.2f} of medians (target ≥ 0.9); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=["gpt2", "mamba2"])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    for arch in args.arch:
        bench(arch, args.steps)


if __name__ == "__main__":
    main()
