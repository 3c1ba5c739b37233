"""The training sweep of chapter 05: chapter 04 executed with papermill over a grid of runs.

The paper's evidence for the L2M condition is a comparison across architectures, sizes and
lengths (Sec. 5, Figs. 4 and 5). Chapter 04 trains one run; this module expands a *grid* into
chapter-04 parameter sets and executes ``book/04_train.ipynb`` once per set that has no
finished run yet, so the sweep is the very notebook a reader can re-run by hand:

    grid = [{"arch": ["gpt2", "mamba2"], "layers": [2, 3, 4]},
            {"arch": "mamba", "layers": [2, 3, 4], "position_embedding": [True, False]}]

Each entry maps chapter-04 parameters to a value or a list of values (every combination of
the lists is one run); the settings shared by every run (steps, channels, ...) sit beside the
grid in chapter 05's parameters. ``tokens_per_step`` keeps the tokens of a step equal across
lengths (batch = tokens_per_step / L) unless an entry sets ``batch``.

A run is found by its folder (``train.default_run_dir``: keyed by every parameter and the
code), so a finished run is reused, never re-trained, and an interrupted one resumes from its
checkpoint. The executed chapter-04 notebooks are kept beside the runs, under
``<cache>/sweep/``, one per run folder, for a reader who wants a run's own pages.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
import os
import queue
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from . import cache, config, paper, runs, train
from .params import ParameterError, validate
from .paths import ROOT

TRAIN_NOTEBOOK = ROOT / "book" / "04_train.ipynb"
SHARED = ("size", "channels", "steps", "batch", "lr", "warmup", "eval_sequences", "seed", "device", "dtype")
# chapter-04 parameters a grid entry may name (all of TrainConfig but where its files go)
GRID_KEYS = tuple(f.name for f in dataclasses.fields(config.TrainConfig) if f.name != "run_dir")
# ``grow: d_state`` in an entry grows its SSM state with L (below): not a chapter-04 parameter
GROW_KEY, GROWABLE = "grow", ("d_state",)
SERIES_KEY = "series"  # an entry's curve in chapter 05's figures: not a chapter-04 parameter either


def grown_d_state(d_state: int, base_len: int, seq_len: int, exponent: float = paper.GAUSSIAN_BETA) -> int:
    """d_state · (L / L₀)^β, rounded: an SSM whose state grows like the data's I_BP ∝ L^β (Sec. 5).

    A new model per length whose state grows like L^β meets at best the series form of the L2M condition
    (NeurIPS Def. 5.5, Thm. 5.6), and its cost per token grows like L^β, so its cost is super-linear in L: it
    is not a linear-cost model that meets the condition (its state is n_layer · d_inner · (d_state + d_conv − 1)).
    """
    return max(1, round(d_state * (seq_len / base_len) ** exponent))


def grid_shape(grid: Any) -> tuple[dict[str, Any], ...]:
    """A grid as a tuple of dicts; ValueError unless it is a non-empty list of dicts."""
    if isinstance(grid, dict) or not isinstance(grid, (list, tuple)) or not grid:
        raise ValueError("grid must be a non-empty list of entries (dicts of chapter-04 parameters)")
    for i, entry in enumerate(grid):
        if not isinstance(entry, dict):
            raise ValueError(f"grid entry {i} is not a dict of chapter-04 parameters: {entry!r}")
    return tuple(grid)


def check_grid(grid: Any) -> tuple[dict[str, Any], ...]:
    """A grid as a tuple of dicts; raises ValueError naming the first bad entry or key."""
    entries = []
    for i, entry in enumerate(grid_shape(grid)):
        unknown = sorted(set(entry) - set(GRID_KEYS) - {GROW_KEY, SERIES_KEY})
        if unknown:
            raise ValueError(f"grid entry {i} names {unknown[0]!r}, not a chapter-04 parameter; those are "
                             f"{', '.join(GRID_KEYS)}")
        if any(isinstance(v, (list, tuple)) and not v for v in entry.values()):
            raise ValueError(f"grid entry {i} has an empty list of values")
        if GROW_KEY in entry and (entry[GROW_KEY] not in GROWABLE or not isinstance(entry.get("d_state"), int)
                                  or entry["d_state"] < 1):
            raise ValueError(f"grid entry {i}: grow must be one of {', '.join(GROWABLE)}, with one d_state ≥ 1 "
                             f"(the state at the entry's shortest L)")
        entries.append(dict(entry))
    return tuple(entries)


def expand(grid: tuple[dict[str, Any], ...], shared: dict[str, Any], tokens_per_step: int = 0) -> list[dict]:
    """Every run of the grid as a complete set of chapter-04 parameters, in grid order (:func:`expand_series`)."""
    return expand_series(grid, shared, tokens_per_step)[0]


def expand_series(grid: tuple[dict[str, Any], ...], shared: dict[str, Any],
                  tokens_per_step: int = 0) -> tuple[list[dict], list[tuple[str, ...]]]:
    """Every run of the grid as a complete set of chapter-04 parameters, in grid order, and its series.

    An entry may name its ``series`` (the curve its runs make in chapter 05's figures; not a chapter-04
    parameter); a run named by several entries trains once and belongs to each of their series.

    An entry's values override ``shared``; list values multiply out. A run with no batch (or
    batch 0) gets ``tokens_per_step / L`` sequences a step. Each set is validated
    against chapter 04's rules (a ParameterError names the entry) and returned with every
    parameter filled in, so the executed notebook and this module agree on the run whatever
    the notebook's own defaults are.
    """
    points: list[dict] = []
    seen: list[dict] = []
    series: list[tuple[str, ...]] = []
    for i, entry in enumerate(check_grid(grid)):
        grow = entry.pop(GROW_KEY, None)
        name = entry.pop(SERIES_KEY, None)
        lists = {k: list(v) if isinstance(v, (list, tuple)) else [v] for k, v in entry.items()}
        configs = []
        for values in itertools.product(*lists.values()):
            point = dict(shared) | dict(zip(lists, values, strict=True))
            try:
                cfg = validate(config.TrainConfig, **point)
                if not point.get("batch") and tokens_per_step:  # TrainConfig resolved seq_len (4**layers, ...)
                    point["batch"] = max(1, tokens_per_step // cfg.seq_len)
                    cfg = validate(config.TrainConfig, **point)
            except ParameterError as error:
                raise ParameterError(f"grid entry {i} ({point}): {error}") from None
            configs.append(cfg)
        if grow:  # the entry's d_state holds at its shortest L and grows like L^β from there
            base_len = min(c.seq_len for c in configs)
            configs = [dataclasses.replace(c, d_state=grown_d_state(c.d_state, base_len, c.seq_len)) for c in configs]
        for cfg in configs:
            full = dataclasses.asdict(cfg)
            full.pop("run_dir")
            if runs.identity(full) not in seen:  # the same run named twice trains once
                seen.append(runs.identity(full))
                points.append(full)
                series.append(())
            where = seen.index(runs.identity(full))
            if name and name not in series[where]:
                series[where] += (name,)
    return points, series


def run_folder(point: dict[str, Any]) -> Path:
    return train.default_run_dir(validate(config.TrainConfig, **point))


def is_finished(point: dict[str, Any]) -> bool:
    return runs.finished(run_folder(point))


def execute(points: list[dict], notebooks: Path | None = None, progress: bool = True,
            workers: int = 1) -> list[runs.Run]:
    """Execute chapter 04 once per run that is not finished; return every run of ``points``, in order.

    Runs start in order of their tokens (steps · batch · L), the most first, so that the longest does not train
    alone at the end; ``workers`` runs train at once, each chapter 04 in its own papermill process with
    cpu_count / workers threads, and its own GPU where there are several (CUDA_VISIBLE_DEVICES):
    on a 2-core CPU two one-thread runs train 1.3× faster than one two-thread run, and the
    kernels' start-up overlaps. A failing run stops the sweep with the run and the error; its
    partly executed notebook stays next to the others and its run folder keeps the last
    checkpoint for a resume. Runs already training in other workers finish first.
    """
    notebooks = Path(notebooks or cache.cache_dir() / "sweep")
    notebooks.mkdir(parents=True, exist_ok=True)
    folders = [run_folder(p) for p in points]
    todo = [(p, f) for p, f in zip(points, folders, strict=True) if not runs.finished(f)]
    # the most tokens first: a long run started last would train alone while the other workers idle
    todo.sort(key=lambda pf: -pf[0]["steps"] * pf[0]["batch"] * pf[0]["seq_len"])
    slots: queue.Queue[int] = queue.Queue()
    for slot in range(workers):
        slots.put(slot)
    bar = tqdm(total=len(todo), desc=f"sweep: {len(todo)} of {len(points)} runs to train", unit="run",
               disable=not progress)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_execute_one, p, f, notebooks, slots, workers) for p, f in todo]
        try:
            for future in concurrent.futures.as_completed(futures):
                bar.set_postfix_str(future.result(), refresh=False)  # raises the run's error
                bar.update()
        except BaseException:
            for future in futures:
                future.cancel()  # those not started yet never start
            raise
        finally:
            bar.close()
    return [runs.load_run(f) for f in folders]


def _execute_one(point: dict, folder: Path, notebooks: Path, slots: queue.Queue, workers: int) -> str:
    """One chapter-04 run (its run folder ``folder``) in a papermill process of its own; returns the folder's name."""
    import torch

    output = notebooks / f"{folder.name}.ipynb"
    partial = output.with_suffix(".partial.ipynb")
    parameters = output.with_suffix(".yml")
    parameters.write_text(yaml.safe_dump(point))
    slot = slots.get()
    try:
        env = dict(os.environ)
        if workers > 1:  # share the cores (torch reads OMP_NUM_THREADS at import), one GPU per worker
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
            gpus = torch.cuda.device_count()
            if gpus > 1:
                env["CUDA_VISIBLE_DEVICES"] = str(slot % gpus)
        # the kernel's start-up chatter goes to stderr; it is shown only when the run fails
        result = subprocess.run([sys.executable, "-m", "papermill", str(TRAIN_NOTEBOOK), str(partial), "-f",
                                 str(parameters), "--cwd", str(TRAIN_NOTEBOOK.parent), "--no-progress-bar"],
                                env=env, capture_output=True, text=True, check=False)
    finally:
        slots.put(slot)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip() and "IPKernelApp" not in line]
        raise RuntimeError(f"chapter 04 failed for {folder.name}: {' | '.join(lines[-3:])}\n"
                           f"  partly executed notebook: {partial}")
    os.replace(partial, output)
    return folder.name


def label(cfg: config.TrainConfig) -> str:
    """A run's series name in the figures: architecture, size, and the position control where it applies."""
    text = f"{cfg.arch} {cfg.size}"
    widths = ("n_layer", "d_model") + (("window",) if cfg.arch == "swa" else ()) + (
        ("expand", "d_conv", "d_state") if cfg.arch in ("mamba", "mamba2") else ())
    changed = [f"{name} {getattr(cfg, name)}" for name in widths if getattr(cfg, name)]  # 0 keeps the size's
    if changed:
        text += f" ({', '.join(changed)})"
    if cfg.arch != "gpt2" and not cfg.position_embedding:
        text += ", no position embedding"
    return text
