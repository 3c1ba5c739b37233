"""The training sweep of chapter 05: chapter 04 executed with papermill over a grid of runs.

The paper's evidence for the L2M condition is a comparison across architectures, sizes and
lengths (Sec. 5, Figs. 4 and 5). Chapter 04 trains one run; this module expands a *grid* into
chapter-04 parameter sets and executes ``book/04_train.ipynb`` once per set that has no
finished run yet, so the sweep is the very notebook a reader can re-run by hand:

    grid = [{"arch": ["gpt2", "mamba2"], "layers": [2, 3, 4]},
            {"arch": "mamba", "layers": [2, 3, 4], "position_embedding": [True, False]},
            {"arch": "mamba", "layers": [2, 3, 4], "warm_start": True}]

Each entry maps chapter-04 parameters to a value or a list of values (every combination of
the lists is one run); the settings shared by every run (steps, channels, ...) sit beside the
grid in chapter 05's parameters. ``tokens_per_step`` keeps the tokens of a step equal across
lengths (batch = tokens_per_step / L) unless an entry sets ``batch``; an entry's ``steps`` may map each of
its ``layers`` to its own steps (``{2: 2000, 3: 4000}``). ``warm_start: true`` starts each
run of an entry from the grid's run of the same model at the next shorter length (``init_from``), which
then trains first.

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

from . import bpe, cache, config, models, paper, runs, train
from .params import ParameterError, validate
from .paths import ROOT

TRAIN_NOTEBOOK = ROOT / "book" / "04_train.ipynb"
SHARED = ("size", "channels", "steps", "batch", "lr", "warmup", "eval_sequences", "seed", "device", "dtype")
# chapter-04 parameters a grid entry may name (all of TrainConfig but where its files go)
GRID_KEYS = tuple(f.name for f in dataclasses.fields(config.TrainConfig) if f.name != "run_dir")
# ``grow: d_state`` in an entry grows its SSM state with L (below): not a chapter-04 parameter
GROW_KEY, GROWABLE = "grow", ("d_state",)
SERIES_KEY = "series"  # an entry's curve in chapter 05's figures: not a chapter-04 parameter either
# ``warm_start: true`` starts each run of an entry from the grid's run of the same model at the next shorter L (with
# ``grow``: a Mamba with a smaller d_state, widened by train.warm_start)
WARM_KEY = "warm_start"
# what makes two runs the same model (train.warm_start needs equal weights but for the position table)
MODEL_KEYS = ("arch", "size", "task", "family", "channels", "position_embedding", "d_state", "window", "n_layer",
              "d_model", "n_head", "expand", "d_conv", "seed", "corpus", "tokenizer", "dtype")


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
        unknown = sorted(set(entry) - set(GRID_KEYS) - {GROW_KEY, SERIES_KEY, WARM_KEY})
        if unknown:
            raise ValueError(f"grid entry {i} names {unknown[0]!r}, not a chapter-04 parameter; those are "
                             f"{', '.join(GRID_KEYS)}")
        if any(isinstance(v, (list, tuple)) and not v for v in entry.values()):
            raise ValueError(f"grid entry {i} has an empty list of values")
        if isinstance(entry.get("steps"), dict):  # steps per length: {layers: steps}
            layers = entry.get("layers")
            missing = set(layers if isinstance(layers, (list, tuple)) else [layers]) - set(entry["steps"])
            if missing or not all(isinstance(v, int) for v in entry["steps"].values()):
                raise ValueError(f"grid entry {i}: steps as a mapping gives the steps (an integer) of every layers "
                                 f"value of the entry; {sorted(missing) or 'a value'} is missing or not an integer")
        if GROW_KEY in entry and (entry[GROW_KEY] not in GROWABLE or not isinstance(entry.get("d_state"), int)
                                  or entry["d_state"] < 1):
            raise ValueError(f"grid entry {i}: grow must be one of {', '.join(GROWABLE)}, with one d_state ≥ 1 "
                             f"(the state at the entry's shortest L)")
        if entry.get(WARM_KEY) and ("init_from" in entry or (GROW_KEY in entry and entry.get("arch") != "mamba")):
            raise ValueError(f"grid entry {i}: warm_start starts each run from the same model at a shorter L; it "
                             f"cannot go with {'init_from' if 'init_from' in entry else 'grow but for Mamba'}")
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
    # every run of every entry, its series, and False (random weights), True (warm) or "grow" (warm, state widened)
    made: list[tuple[config.TrainConfig, str | None, bool | str]] = []
    for i, entry in enumerate(check_grid(grid)):
        grow = entry.pop(GROW_KEY, None)
        name = entry.pop(SERIES_KEY, None)
        warm = bool(entry.pop(WARM_KEY, False))
        by_layers = entry.pop("steps") if isinstance(entry.get("steps"), dict) else None
        lists = {k: list(v) if isinstance(v, (list, tuple)) else [v] for k, v in entry.items()}
        configs = []
        for values in itertools.product(*lists.values()):
            point = dict(shared) | dict(zip(lists, values, strict=True))
            if by_layers:
                point["steps"] = by_layers[point["layers"]]
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
        made += [(c, name, "grow" if warm and grow else warm) for c in configs]
    made = _warm_sources(made)
    points: list[dict] = []
    seen: list[dict] = []
    series: list[tuple[str, ...]] = []
    for cfg, name, _ in made:  # in grid order
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


def _warm_sources(made: list[tuple[config.TrainConfig, str | None, bool | str]]) -> list[tuple]:
    """Each warm run with ``init_from`` set to the grid's run of the same model at the next shorter L (none: random
    weights); a run of a grown state (warm is "grow") takes the same model with the largest d_state up to its own.
    Shorter runs are resolved first, so a chain L₁ → L₂ → L₃ names each link's own key; a warm source is preferred to
    a cold one of the same model and L."""
    def model(cfg: config.TrainConfig, widen: bool) -> tuple:
        return tuple(getattr(cfg, k) for k in MODEL_KEYS if not (widen and k == "d_state"))

    resolved = list(made)
    for i in sorted(range(len(made)), key=lambda i: made[i][0].seq_len):
        cfg, name, warm = resolved[i]
        if not warm:
            continue
        widen = warm == "grow"
        shorter = [(c.seq_len, c.d_state, bool(w), c) for c, _, w in resolved
                   if model(c, widen) == model(cfg, widen) and c.seq_len < cfg.seq_len and c.d_state <= cfg.d_state]
        if shorter:
            source = max(shorter, key=lambda t: t[:3])[3]
            resolved[i] = (dataclasses.replace(cfg, init_from=run_folder(dataclasses.asdict(source)).name), name, warm)
    return resolved


def run_folder(point: dict[str, Any]) -> Path:
    return train.default_run_dir(validate(config.TrainConfig, **point))


def is_finished(point: dict[str, Any]) -> bool:
    return runs.finished(run_folder(point))


def execute(points: list[dict], notebooks: Path | None = None, progress: bool = True,
            workers: int = 1) -> list[runs.Run]:
    """Execute chapter 04 once per run that is not finished; return every run of ``points``, in order.

    Runs start in order of the tokens (steps · batch · L) of the chain they head (a run and the warm runs that start
    from it, ``init_from``, which wait until it has finished), the most first, so that the longest does not train
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
    todo = {f.name: (p, f) for p, f in zip(points, folders, strict=True) if not runs.finished(f)}
    source = {name: p.get("init_from", "") for name, (p, _) in todo.items()}
    for name in todo:  # a warm run's source is in the grid or already trained (else one clear line, before training)
        if source[name] and source[name] not in todo:
            train.source_folder(source[name])
    for name in sorted({p["tokenizer"] for p, _ in todo.values() if p.get("task") == "text"}):
        bpe.provide(name)  # a corpus BPE the grid names by id, trained here once if this machine lacks it
    order = _critical_first(todo, source)
    slots: queue.Queue[int] = queue.Queue()
    for slot in range(workers):
        slots.put(slot)
    bar = tqdm(total=len(todo), desc=f"sweep: {len(todo)} of {len(points)} runs to train", unit="run",
               disable=not progress)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        running: dict[concurrent.futures.Future, str] = {}
        try:
            while order or running:
                # a run starts once its source has finished; the longest remaining chain first
                ready = [n for n in order if source[n] not in todo]
                for name in ready[: workers - len(running)]:
                    order.remove(name)
                    running[pool.submit(_execute_one, *todo[name], notebooks, slots, workers)] = name
                if not running:
                    raise RuntimeError(f"sweep: no run can start ({', '.join(order)} wait for one another)")
                done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    bar.set_postfix_str(future.result(), refresh=False)  # raises the run's error
                    del todo[running.pop(future)]
                    bar.update()
        except BaseException:
            for future in running:
                future.cancel()
            raise
        finally:
            bar.close()
    return [runs.load_run(f) for f in folders]


def _critical_first(todo: dict[str, tuple[dict, Path]], source: dict[str, str]) -> list[str]:
    """Runs to train, those heading the most tokens of training first (a run's own tokens and those of the chain of
    warm runs that wait for it): a long chain started last would train alone while the other workers idle."""
    def tokens(name: str) -> int:
        p = todo[name][0]
        return p["steps"] * p["batch"] * p["seq_len"]

    def chain(name: str) -> int:
        waiting = [n for n, s in source.items() if s == name]
        return tokens(name) + max((chain(n) for n in waiting), default=0)

    return sorted(todo, key=lambda n: -chain(n))


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
    widths = ("n_layer", "d_model") + (("n_head",) if cfg.arch in models.ATTENTION_ARCHS else ()) + (
        ("window",) if cfg.arch == "swa" else ()) + (
        ("expand", "d_conv", "d_state") if cfg.arch in ("mamba", "mamba2") else ())
    changed = [f"{name} {getattr(cfg, name)}" for name in widths if getattr(cfg, name)]  # 0 keeps the size's
    if changed:
        text += f" ({', '.join(changed)})"
    if cfg.arch != "gpt2" and not cfg.position_embedding:
        text += ", no position embedding"
    return text
