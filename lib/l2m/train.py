"""Training from scratch on the Gaussian data or on text, with resumable run folders (chapter 04).

The paper's evidence for the L2M condition (Sec. 5, Figs. 4 and 5; Appx. E/F) comes from
training GPT2, Mamba and Mamba2 from scratch. On the Gaussian data every step draws fresh
sequences (the data never repeats) and the loss is the mean conditional KL against the exact
conditionals (Appx. E); on text it is the NLL of windows cut from the corpus, evaluated on
held-out documents. AdamW, linear warm-up, then a constant learning rate and a linear decay over the
last 20 % of the steps (``schedule="wsd"``, the default; ``"cosine"``: the paper's cosine decay), gradient
clipping; fp32 unless ``dtype="bfloat16"``. A ``wsd`` run also trains the run of half its budget, as a
branch of itself, and stores whether doubling the budget still paid (:mod:`l2m.convergence`).

The tasks (data and loss) are in :mod:`l2m.tasks`, the run folders (checkpoints every
``checkpoint_every`` steps and at step 0, ``metrics.json`` at the end) in :mod:`l2m.runs`.

``init_from`` starts a run from a finished run of the same model at a shorter length (:func:`warm_start`: its
position table tiled), a curriculum over length that reaches a given KL at L = 256 in a fraction of the steps.

Re-running a finished run loads its metrics; an interrupted one resumes from its checkpoint and,
on the CPU, ends with the same metrics as an uninterrupted run (batch ``s`` is drawn from a seed
made of ``(seed, s)``, never from a stream that a restart would rewind). A missing or unreadable
checkpoint, or a folder that holds another run, is an error, never a silent restart; a NaN or inf
loss stops the run and keeps the last good checkpoint.

From the command line, ``python -m l2m.train [--preset NAME] name=value ...`` runs one
configuration; several GPUs: ``torchrun --nproc_per_node N -m l2m.train ...`` (PyTorch DDP). Every
rank draws the same global batch and trains on its slice, so the data does not depend on N, and
rank 0 alone writes the folder.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm

from . import cache, config, convergence, gaussian, models, references, runs, state, tasks
from .config import TrainConfig
from .params import BookError
from .paths import ROOT
from .runs import Run, identity, load_checkpoint, load_run
from .tasks import GaussianTask, TextTask, make_task

EVAL_SEED = 20250304  # one evaluation set for every run of the same data, whatever its training seed
EVAL_CHUNK = 8  # evaluation sequences per forward pass (8 × 4096 × 50k logits is 6.5 GB in fp32)


def training_code_digest(task: str) -> str:
    """sha256 of the modules that determine what a run computes and stores (part of its folder's key).

    l2m.runs is not among them: it names the folder's files and reads them back (its checkpoint
    layout is versioned by ``runs.FORMAT``), so adding a reader there keeps every finished run.
    """
    from . import corpus, tokenizer  # text runs depend on how the corpus is read and tokenized

    return cache.source_digest([models, config, sys.modules[__name__], tasks, gaussian, convergence]
                               + ([corpus, tokenizer] if task == "text" else []))


def default_run_dir(cfg: TrainConfig) -> Path:
    """``<cache>/runs/<arch>-<size>-<task>-L<seq_len>-<key>``, the key covering parameters, device and code."""
    key = cache.key_digest({"run": identity(cfg), "device": models.resolve_device(cfg.device).type,
                            "code": training_code_digest(cfg.task)})
    return cache.cache_dir() / "runs" / f"{cfg.arch}-{cfg.size}-{cfg.task}-L{cfg.seq_len}-{key[:12]}"


class TrainingDiverged(BookError, RuntimeError):
    """A NaN or inf loss or gradient; the last good checkpoint is kept."""


def _seed(*parts: int) -> int:
    """A 63-bit seed from integers: independent streams for (seed, step), (eval, batch), ..."""
    return int(np.random.SeedSequence(list(parts)).generate_state(2, np.uint64)[0] >> np.uint64(1))


def build(cfg: TrainConfig, task: GaussianTask | TextTask) -> models.SequenceModel:
    """The run's model, initialised from ``cfg.seed``."""
    mcfg = models.model_config(cfg.arch, cfg.size, cfg.task, cfg.seq_len, channels=cfg.channels,
                               vocab_size=getattr(task, "vocab_size", 0), position_embedding=cfg.position_embedding,
                               d_state=cfg.d_state, window=cfg.window, n_layer=cfg.n_layer, d_model=cfg.d_model,
                               expand=cfg.expand, d_conv=cfg.d_conv, n_head=cfg.n_head)
    torch.manual_seed(cfg.seed)
    return models.build_model(mcfg)


POSITION_TABLES = ("backbone.wpe.weight", "position.weight")  # learned absolute positions, (max_len, d_model)


class NotWarmStartable(BookError, ValueError):
    """``init_from`` names no finished run, or a run of another model."""


def source_folder(init_from: str) -> Path:
    """The finished run that ``init_from`` names: a folder under the cache's ``runs/``, else a path."""
    named = cache.cache_dir() / "runs" / init_from
    folder = named if named.is_dir() else Path(init_from)
    if not runs.finished(folder):
        raise NotWarmStartable(f"init_from = {init_from!r} is not a finished run (no metrics.json there): train it "
                               f"first, or use '' to start from random weights")
    return folder


def warm_start(model: torch.nn.Module, source: dict[str, torch.Tensor]) -> None:
    """Load a finished run's weights into ``model``: every tensor as it is, the position tables tiled, a Mamba's
    state widened.

    Used to start a run at length L from the same model trained at a shorter length, as curricula over length do.
    The Gaussian data's hierarchy (Appx. C) repeats its blocks every 4**l tokens, so a table of L/4 positions tiled
    four times gives every block the positions the shorter run learned for one; the state-space weights do not depend
    on L at all. A Mamba whose ``d_state`` grew (a state grown like L^β) keeps the source's states and adds new ones
    with this model's own initial decay rates and input maps and a zero output map (their C), so it starts as the very
    function the source computes (:func:`_widened_state`). Anything else of another shape is a different model, and an
    error.
    """
    target = model.state_dict()
    if set(source) != set(target):
        raise NotWarmStartable(f"init_from is another model: its weights {sorted(set(source) ^ set(target))[:3]} "
                               "are not this model's")
    loaded = {}
    for name, here in target.items():
        there = source[name]
        if there.shape != here.shape and name.endswith(("mixer.A_log", "mixer.x_proj.weight")):
            there = _widened_state(name, there, here, _state_size(source, name))
        if there.shape != here.shape:
            tiles = here.shape[0] // max(1, there.shape[0])
            if name not in POSITION_TABLES or there.shape[1:] != here.shape[1:] or tiles * there.shape[0] != here.shape[0]:
                raise NotWarmStartable(f"init_from: {name} is {tuple(there.shape)} there and {tuple(here.shape)} here; "
                                       "the source must be the same model at a shorter length (L divides this L; a "
                                       "Mamba's d_state may grow)")
            there = there.repeat(tiles, *([1] * (there.dim() - 1)))
        loaded[name] = there
    model.load_state_dict(loaded)


def _state_size(weights: dict[str, torch.Tensor], name: str) -> int:
    """A Mamba mixer's d_state, from its A_log (d_inner, d_state)."""
    return weights[name.replace("x_proj.weight", "A_log")].shape[1]


def _widened_state(name: str, there: torch.Tensor, here: torch.Tensor, old: int) -> torch.Tensor:
    """A Mamba mixer's A_log or x_proj with ``old`` states of the source first and this model's new ones after.

    x_proj maps the input to [Δ (rank r) | B (d_state) | C (d_state)] (transformers' MambaMixer); the new states keep
    this model's initial A and B and get C = 0, so they add nothing to the output until training gives them a use.
    """
    if name.endswith("A_log"):
        if there.shape[0] != here.shape[0] or there.shape[1] > here.shape[1]:
            return there  # not a widening: the caller's shape check names it
        return torch.cat([there, here[:, there.shape[1]:]], dim=1)
    rank, new = there.shape[0] - 2 * old, (here.shape[0] - there.shape[0]) // 2 + old
    if there.shape[1] != here.shape[1] or here.shape[0] != rank + 2 * new or new < old:
        return there
    dt, b, c = there.split([rank, old, old])
    return torch.cat([dt, b, here[rank + old: rank + new], c, torch.zeros_like(here[rank + new + old:])])


def optimizer_and_schedule(model: torch.nn.Module, cfg: TrainConfig) -> tuple[torch.optim.Optimizer, Any]:
    """AdamW (decay on matrices only, as nanoGPT) with linear warm-up, then ``cfg.schedule``: constant and a
    linear decay to 0 over the last 20 % (wsd), or a cosine decay to 0.

    Call it after the model is on its device: the fused AdamW kernel runs where the parameters are.
    """
    from transformers import get_cosine_schedule_with_warmup, get_wsd_schedule

    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    fused = params[0].device.type in ("cpu", "cuda")  # one kernel for all tensors: 5x faster than foreach on CPU
    opt = torch.optim.AdamW(groups, lr=cfg.lr, fused=fused)
    if cfg.schedule == "cosine":
        return opt, get_cosine_schedule_with_warmup(opt, cfg.warmup, cfg.steps)
    return opt, get_wsd_schedule(opt, cfg.warmup, convergence.decay_steps(cfg.steps), num_training_steps=cfg.steps,
                                 decay_type="linear")


@torch.no_grad()
def sequence_losses(model: torch.nn.Module, task: GaussianTask | TextTask, cfg: TrainConfig) -> np.ndarray:
    """The loss at every position of every sequence of the fixed evaluation set, (eval_sequences, L)."""
    model.eval()
    rows = []
    for i, first in enumerate(range(0, cfg.eval_sequences, EVAL_CHUNK)):
        size = min(EVAL_CHUNK, cfg.eval_sequences - first)
        batch = task.sample(_seed(EVAL_SEED, i), size, "eval")  # the same sequences whatever the batch or seed
        with _autocast(cfg, batch.inputs.device):
            rows.append(task.loss(model(batch.inputs), batch).double().cpu().numpy())  # (B, L)
    model.train()
    return np.concatenate(rows)


def _stderr(values: np.ndarray) -> np.ndarray:
    """Standard error of the mean over the first axis (the evaluation sequences); 0 for a single sequence."""
    return values.std(0, ddof=1) / math.sqrt(len(values)) if len(values) > 1 else np.zeros(values.shape[1:])


def evaluate(model: torch.nn.Module, task: GaussianTask | TextTask, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of the loss at every position over the fixed evaluation set, (L,) each."""
    losses = sequence_losses(model, task, cfg)
    return losses.mean(0), _stderr(losses)


def binned_curve(losses: np.ndarray, points: int = 500) -> dict[str, list]:
    """The loss curve as at most ``points`` means over equal bins of steps (step = the bin's last step)."""
    if len(losses) == 0:
        return {"step": [], "loss": []}
    width = max(1, math.ceil(len(losses) / points))
    edges = np.arange(0, len(losses), width)
    means = np.add.reduceat(losses, edges) / np.diff(np.append(edges, len(losses)))
    return {"step": np.minimum(edges + width, len(losses)).tolist(), "loss": means.tolist()}


def _autocast(cfg: TrainConfig, device: torch.device) -> Any:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.dtype == "bfloat16")


def _distributed(cfg: TrainConfig) -> tuple[int, int, torch.device]:
    """(rank, world size, device); starts the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = models.resolve_device(cfg.device, local)
    if world > 1:
        if cfg.batch % world:
            raise ValueError(f"batch = {cfg.batch} must be a multiple of the number of processes ({world})")
        if not torch.distributed.is_initialized():
            torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            torch.cuda.set_device(device)
    return rank, world, device


def _resume(folder: Path, cfg: TrainConfig, model: torch.nn.Module, opt: torch.optim.Optimizer, schedule: Any,
            device: torch.device) -> list[float]:
    """Load the folder's checkpoint into model, optimiser, schedule and RNG; returns the losses so far."""
    ckpt = load_checkpoint(folder)
    runs.check_same_run(ckpt["config"], cfg, folder)
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    schedule.load_state_dict(ckpt["scheduler"])
    torch.set_rng_state(ckpt["rng"]["torch"])
    if device.type == "cuda" and "cuda" in ckpt["rng"]:
        torch.cuda.set_rng_state(ckpt["rng"]["cuda"], device)
    return ckpt["losses"].tolist()


def _save_checkpoint(folder: Path, step: int, cfg: TrainConfig, model: models.SequenceModel,
                     opt: torch.optim.Optimizer, schedule: Any, losses: list[float], device: torch.device) -> None:
    """Everything a resume needs, RNG state included, written atomically to ``checkpoint.pt``."""
    rng = {"torch": torch.get_rng_state()} | ({"cuda": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {})
    runs.save_checkpoint(folder / "checkpoint.pt", {
        "format": runs.FORMAT, "step": step, "config": dataclasses.asdict(cfg), "model_config": model.cfg.to_dict(),
        "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": schedule.state_dict(),
        "rng": rng, "losses": torch.tensor(losses, dtype=torch.float64)})


def _run_info(cfg: TrainConfig, model: models.SequenceModel, device: torch.device, world: int) -> dict[str, Any]:
    """What ``config.json`` holds and ``metrics.json`` begins with: the configs, code, device and versions."""
    return {"config": dataclasses.asdict(cfg), "model_config": model.cfg.to_dict(), "git_revision": runs.git_revision(),
            "code_digest": training_code_digest(cfg.task), "device": str(device), "world_size": world,
            "kernel": models.kernel_path(cfg.arch, device), "n_params": models.count_parameters(model),
            "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__}}


def _progress_bar(cfg: TrainConfig, start: int, shown: bool) -> tqdm:
    """Tokens trained so far against the run's total (stderr, at most every 5 s)."""
    per_step = cfg.batch * cfg.seq_len
    return tqdm(total=cfg.steps * per_step, initial=start * per_step, unit="tok", unit_scale=True,
                desc=f"{cfg.arch} {cfg.size} {cfg.task} L={cfg.seq_len}", disable=not shown, mininterval=5.0,
                file=sys.stderr)


def _forward_backward(net: torch.nn.Module, model: torch.nn.Module, task: GaussianTask | TextTask, batch: Any,
                      opt: torch.optim.Optimizer, cfg: TrainConfig, device: torch.device,
                      world: int) -> tuple[float, torch.Tensor]:
    """Mean loss of the batch (averaged over ranks) and the clipped gradients' norm; no optimiser step yet."""
    with _autocast(cfg, device):
        loss = task.loss(net(batch.inputs), batch).mean()
    value = loss.detach().clone()
    if world > 1:
        torch.distributed.all_reduce(value)
        value /= world
    opt.zero_grad(set_to_none=True)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip or math.inf)
    return value.item(), norm


def _check_finite(value: float, norm: torch.Tensor, step: int, last_good: int, folder: Path, cfg: TrainConfig) -> None:
    if not (math.isfinite(value) and torch.isfinite(norm)):
        raise TrainingDiverged(
            f"{'loss' if not math.isfinite(value) else 'gradient norm'} is not finite at step {step + 1} "
            f"(loss {value}); stopped. The last good checkpoint (step {last_good}) is kept in {folder}; "
            f"lower lr (now {cfg.lr}) or raise warmup for a new run")


def _write_metrics(folder: Path, info: dict[str, Any], cfg: TrainConfig, model: models.SequenceModel,
                   task: GaussianTask | TextTask, losses: list[float], start: int, train_s: float,
                   device: torch.device) -> None:
    """Evaluate the trained model, measure its convergence and write ``metrics.json``, the mark of a finished run."""
    per_sequence = sequence_losses(model, task, cfg)
    per_position, stderr = per_sequence.mean(0), _stderr(per_sequence)
    t0 = time.perf_counter()
    converged = _convergence(folder, cfg, task, per_sequence.mean(1), device)
    hs = state.history_state(model.cfg)
    tokens = (cfg.steps - start) * cfg.batch * cfg.seq_len
    metrics = info | {
        "metric": task.metric, "average": float(per_position.mean()), "per_position": per_position.tolist(),
        "average_se": float(_stderr(per_sequence.mean(1))),
        "per_position_se": stderr.tolist(), "final_train_loss": float(np.mean(losses[-max(1, len(losses) // 20):])),
        "loss_curve": binned_curve(np.asarray(losses)), "steps_this_call": cfg.steps - start, "train_s": train_s,
        "convergence": converged, "convergence_s": time.perf_counter() - t0,
        "tokens_per_s": tokens / max(train_s, 1e-9),
        "history_state": {"what": hs.what, "fixed": hs.fixed, "per_token": hs.per_token,
                          "max_tokens": hs.max_tokens, "at_seq_len": hs.at(cfg.seq_len),
                          "measured_at_seq_len": state.measured_state(model, cfg.seq_len)},
    }
    cache.atomic_write_bytes(folder / "metrics.json", json.dumps(metrics, indent=1).encode())


BRANCH = "branch.pt"  # the run at the step where its half-budget run starts to decay


def _branch_step(cfg: TrainConfig) -> int:
    """The step after which the run keeps a copy of itself for the half-budget run, or 0 when it cannot."""
    ok = cfg.schedule == "wsd" and convergence.can_check(cfg.steps, cfg.warmup)
    return convergence.branch_step(cfg.steps) if ok else 0


def half_budget_model(saved: dict[str, Any], cfg: TrainConfig, task: GaussianTask | TextTask,
                      device: torch.device) -> models.SequenceModel:
    """The model of the run of ``steps // 2`` steps: the full run's copy at the branch step, decayed on its own.

    Its learning rate, batches and optimiser state are those of a run trained with ``steps // 2`` from the
    start (wsd: the two runs agree until the half run's decay begins), so it is that run (a test checks it).
    """
    half = dataclasses.replace(cfg, steps=convergence.half_steps(cfg.steps))
    model = build(cfg, task).to(device)
    model.load_state_dict(saved["model"])
    opt, schedule = optimizer_and_schedule(model, half)
    opt.load_state_dict(saved["optimizer"])
    schedule.load_state_dict(saved["scheduler"])  # its step count; the factors are the half run's own
    model.train()
    for step in range(_branch_step(cfg), half.steps):
        batch = task.sample(_seed(cfg.seed, step), cfg.batch)
        _forward_backward(model, model, task, batch, opt, cfg, device, 1)
        opt.step()
        schedule.step()
    return model


def _convergence(folder: Path, cfg: TrainConfig, task: GaussianTask | TextTask, full: np.ndarray,
                 device: torch.device) -> dict[str, Any]:
    """The convergence criterion's numbers (:class:`l2m.convergence.Convergence`), or why it was not measured."""
    if not _branch_step(cfg):
        why = "cosine schedule" if cfg.schedule == "cosine" else f"too few steps after the warm-up ({cfg.steps})"
        return {"verdict": "not measured", "why": why}
    try:
        saved = runs.load_payload(folder / BRANCH)
    except runs.CheckpointError as error:  # missing or damaged: the run stands, its criterion is not measured
        return {"verdict": "not measured", "why": f"the half-budget copy cannot be read ({str(error)[:120]})"}
    half = sequence_losses(half_budget_model(saved, cfg, task, device), task, cfg).mean(1)
    marginal = float(references.marginal_kl(task.cov).mean()) if cfg.task == "gaussian" else 0.0
    return convergence.judge(full, half, cfg.steps, task.metric, marginal).to_dict()


def train(cfg: TrainConfig, run_dir: Path | str | None = None, progress: bool = True,
          callback: Callable[[int, float, torch.nn.Module], None] | None = None) -> Run:
    """Train (or resume, or just load) the run of ``cfg``; returns the finished :class:`Run`.

    ``run_dir`` (else ``cfg.run_dir``, else :func:`default_run_dir`) is the run folder.
    ``callback(step, loss, model)`` is called after every step (the tests interrupt runs with it).
    """
    folder = Path(run_dir or cfg.run_dir or default_run_dir(cfg))
    run = runs.finished_run(folder)  # metrics.json read once
    if run is not None:
        runs.check_same_run(run.metrics["config"], cfg, folder)
        return run
    rank, world, device = _distributed(cfg)
    resuming = (folder / "checkpoint.pt").is_file() or (folder / "config.json").is_file()
    if world > 1:
        torch.distributed.barrier()  # every rank decides before rank 0 writes the first checkpoint
    task = make_task(cfg, device)
    model = build(cfg, task)
    if cfg.init_from and not resuming:  # a resumed run has its own weights
        warm_start(model, load_checkpoint(source_folder(cfg.init_from))["model"])
    model = model.to(device)
    opt, schedule = optimizer_and_schedule(model, cfg)
    losses = _resume(folder, cfg, model, opt, schedule, device) if resuming else []
    start, info = len(losses), _run_info(cfg, model, device, world)
    if not resuming and rank == 0:
        _save_checkpoint(folder, 0, cfg, model, opt, schedule, losses, device)  # first: a config.json has a checkpoint
        cache.atomic_write_bytes(folder / "config.json", json.dumps(info, indent=1).encode())
    net = model if world == 1 else torch.nn.parallel.DistributedDataParallel(model)
    rows = slice(rank * cfg.batch // world, (rank + 1) * cfg.batch // world)
    bar = _progress_bar(cfg, start, progress and rank == 0)
    last_good, t0 = start, time.perf_counter()
    branch = _branch_step(cfg)
    model.train()
    try:
        for step in range(start, cfg.steps):
            batch = task.part(task.sample(_seed(cfg.seed, step), cfg.batch), rows)  # the same global batch on every rank
            value, norm = _forward_backward(net, model, task, batch, opt, cfg, device, world)
            _check_finite(value, norm, step, last_good, folder, cfg)
            opt.step()
            schedule.step()
            losses.append(value)
            bar.update(cfg.batch * cfg.seq_len)
            bar.set_postfix(loss=f"{value:.4g}", refresh=False)
            if step + 1 == branch and rank == 0:  # the half-budget run leaves here (l2m.convergence)
                runs.save_checkpoint(folder / BRANCH, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                                       "scheduler": schedule.state_dict()})
            if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
                if rank == 0:
                    _save_checkpoint(folder, step + 1, cfg, model, opt, schedule, losses, device)
                last_good = step + 1
            if callback is not None:
                callback(step + 1, value, model)
    finally:
        bar.close()
    if rank == 0:
        _write_metrics(folder, info, cfg, model, task, losses, start, time.perf_counter() - t0, device)
    if world > 1:
        torch.distributed.barrier()
    return load_run(folder)


def main(argv: list[str] | None = None) -> None:
    """``python -m l2m.train [--preset NAME] name=value ...``: one run from the command line.

    The values of the preset's ``04_train`` section come first, then the ``name=value`` pairs (read as
    YAML scalars). Under ``torchrun --nproc_per_node N -m l2m.train ...`` the run uses N GPUs (DDP).
    """
    import argparse

    import yaml

    from .params import validate

    parser = argparse.ArgumentParser(prog="python -m l2m.train", description="Train one chapter-04 run.")
    parser.add_argument("--preset", help="a presets/NAME.yml whose 04_train section gives the defaults")
    parser.add_argument("values", nargs="*", metavar="name=value")
    args = parser.parse_args(argv)
    models.quiet_library_warnings()
    values = {}
    if args.preset:
        values = (yaml.safe_load((ROOT / "presets" / f"{args.preset}.yml").read_text()) or {}).get("04_train") or {}
    for pair in args.values:
        name, sep, text = pair.partition("=")
        if not sep:
            parser.error(f"{pair!r} is not name=value")
        value = yaml.safe_load(text) if text else ""
        try:  # YAML reads 3e-3 as a string (its floats need a dot)
            value = float(value) if isinstance(value, str) and name not in ("run_dir", "tokenizer", "init_from") else value
        except ValueError:
            pass
        values[name] = value
    run = train(validate(TrainConfig, **values))
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"{run.folder}: average {run.metric.upper()} {run.average:.5g}")


if __name__ == "__main__":
    main()
