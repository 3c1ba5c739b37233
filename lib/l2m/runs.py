"""Run folders of chapter 04: where a training run lives, its checkpoint and its metrics.

A run lives in a folder (by default ``<cache>/runs/<arch>-<size>-<task>-L<seq_len>-<key>``, see
``train.default_run_dir``: keyed by the whole configuration and the code, so chapter 05 finds
and reuses finished runs):

- ``checkpoint.pt``: model, optimiser, scheduler, RNG state, loss history and both configs,
  written atomically and read back with ``torch.load(weights_only=True)``;
- ``metrics.json``: parameters, git revision, loss curve, final average KL or NLL, its value per
  position on a fixed evaluation set, history-state size; its presence marks a finished run.

A missing or unreadable checkpoint, or a folder that holds another run, is a
:class:`CheckpointError`, never a silent restart.
"""
from __future__ import annotations

import dataclasses
import io
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import cache, models
from .config import TrainConfig
from .params import BookError
from .paths import ROOT

FORMAT = 1  # checkpoint layout version
_NOT_IDENTITY = ("run_dir", "checkpoint_every", "device")  # do not change what a run computes


def identity(cfg: TrainConfig | dict[str, Any]) -> dict[str, Any]:
    """The fields that determine what a run computes (those irrelevant to its task or arch left out)."""
    values = dict(cfg) if isinstance(cfg, dict) else dataclasses.asdict(cfg)
    unused = ("corpus", "tokenizer") if values.get("task") == "gaussian" else ("layers", "family", "channels")
    attention_only = ("d_state", "expand", "d_conv")  # SSM widths
    by_arch = {"gpt2": attention_only + ("window", "position_embedding"),  # GPT2 always has its own positions
               "swa": attention_only}
    unused += by_arch.get(values.get("arch"), ("window", "n_head"))  # SSMs: no attention
    # widths left at 0 keep the size's value: leave them out, so runs keyed before they existed keep their keys
    unused += tuple(k for k in ("n_layer", "d_model", "n_head", "expand", "d_conv", "init_from") if not values.get(k))
    return {k: v for k, v in values.items() if k not in _NOT_IDENTITY + unused}


class CheckpointError(BookError, RuntimeError):
    """A run folder that cannot be resumed: missing or corrupt checkpoint, or another run's folder."""


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    cache.atomic_write_bytes(path, buffer.getvalue())


def load_payload(path: Path) -> dict[str, Any]:
    """A file written by :func:`save_checkpoint`, read with ``weights_only=True``; a CheckpointError if unreadable."""
    if not path.is_file():
        raise CheckpointError(f"{path} is missing")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any failure to read is the same for the reader
        raise CheckpointError(f"{path} is unreadable ({type(error).__name__}: {str(error)[:200]}); delete the "
                              "run folder to start again") from None


def load_checkpoint(folder: Path) -> dict[str, Any]:
    """The checkpoint of a run folder, read with ``weights_only=True``; a clear error if missing or corrupt."""
    path = folder / "checkpoint.pt"
    if not path.is_file():
        raise CheckpointError(f"{folder} holds a run but no checkpoint.pt: it cannot be resumed, and it is not "
                              "restarted over the old run; delete the folder to start again")
    payload = load_payload(path)
    missing = {"format", "step", "config", "model", "optimizer", "scheduler", "rng", "losses"} - set(payload)
    if missing or payload["format"] != FORMAT:
        raise CheckpointError(f"{path} is not a checkpoint of this version (missing {sorted(missing)}); delete the "
                              "run folder to start again")
    return payload


def check_same_run(stored: dict[str, Any], cfg: TrainConfig | dict[str, Any], folder: Path) -> None:
    mine, theirs = identity(cfg), identity(stored)
    diff = [k for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
    if diff:
        k = diff[0]
        raise CheckpointError(f"{folder} holds another run ({k} = {theirs.get(k)!r}, not {mine.get(k)!r}); use another "
                              "run_dir, or '' for the folder keyed by the parameters")


@dataclass(frozen=True)
class StoredState:
    """The history-state size a run stored (:func:`l2m.state.history_state` of its model, at its ``seq_len``)."""

    what: str  # what the numbers are (KV cache, SSM state, ...)
    fixed: int  # numbers kept whatever the length
    per_token: int  # numbers added per past token
    max_tokens: int | None  # past tokens kept at most (a window), None when all
    at_seq_len: int  # numbers after seq_len tokens, by the formula
    measured_at_seq_len: int  # the same, counted in the transformers cache of the trained model


@dataclass(frozen=True)
class Run:
    """A finished run: its folder and the contents of its ``metrics.json``.

    Readers use the properties below, not ``metrics[...]``: they name what ``train.train`` stores, in one place.
    """

    folder: Path
    metrics: dict[str, Any]

    @property
    def config(self) -> TrainConfig:
        return TrainConfig(**self.metrics["config"])

    @property
    def model_config(self) -> models.ModelConfig:
        """The model the run trained, widths resolved (what :func:`load_model` builds)."""
        return models.ModelConfig.from_dict(self.metrics["model_config"])

    @property
    def metric(self) -> str:
        """``"kl"`` (Gaussian task) or ``"nll"`` (text task): what :attr:`average` and :attr:`per_position` measure."""
        return self.metrics["metric"]

    @property
    def average(self) -> float:
        """Average KL (nats per channel and token) or NLL (nats per token) over positions of the evaluation set."""
        return self.metrics["average"]

    @property
    def average_se(self) -> float:
        """Standard error of :attr:`average` over the evaluation sequences (runs stored before it: the mean of the
        per-position errors, the bound for perfectly correlated positions)."""
        return self.metrics.get("average_se", float(np.mean(self.per_position_se)))

    @property
    def per_position(self) -> np.ndarray:
        """The metric at every position over the fixed evaluation set, (L,)."""
        return np.asarray(self.metrics["per_position"])

    @property
    def per_position_se(self) -> np.ndarray:
        """Standard error of :attr:`per_position` over the evaluation sequences, (L,)."""
        return np.asarray(self.metrics["per_position_se"])

    @property
    def history_state(self) -> StoredState:
        return StoredState(**self.metrics["history_state"])

    @property
    def train_s(self) -> float:
        """Seconds this call's training steps took (for a resumed run, the steps after the resume only)."""
        return self.metrics["train_s"]

    @property
    def convergence(self) -> dict[str, Any]:
        """The convergence criterion's numbers (:class:`l2m.convergence.Convergence`) or ``{"verdict": "not measured",
        "why": ...}``; runs stored before the criterion existed read as not measured."""
        return self.metrics.get("convergence") or {"verdict": "not measured", "why": "stored before the criterion"}

    @property
    def converged(self) -> bool:
        return self.convergence["verdict"] == "converged"

    @property
    def loss_curve(self) -> tuple[np.ndarray, np.ndarray]:
        curve = self.metrics["loss_curve"]
        return np.asarray(curve["step"]), np.asarray(curve["loss"])


def load_model(folder: Path | str, device: str = "cpu") -> models.SequenceModel:
    """The model of a run folder's last checkpoint, in eval mode (chapter 05 measures trained models)."""
    ckpt = load_checkpoint(Path(folder))
    model = models.build_model(models.ModelConfig.from_dict(ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval()


def load_run(folder: Path | str) -> Run:
    path = Path(folder) / "metrics.json"
    try:
        return Run(Path(folder), json.loads(path.read_text()))
    except cache.READ_ERRORS as error:
        raise CheckpointError(f"{path} cannot be read ({type(error).__name__}); delete it and run again: the run is "
                       f"evaluated again from its last checkpoint") from None


def finished_run(folder: Path | str) -> Run | None:
    """The finished run in ``folder``, or None when it holds no readable ``metrics.json`` (the mark of a finished
    run). A damaged one is moved aside: training the run again then resumes from its last checkpoint, trains no
    further step and evaluates the model again, so a finished run's numbers come back without retraining."""
    metrics = cache.read_or_set_aside(Path(folder) / "metrics.json", lambda p: json.loads(p.read_text()))
    return None if metrics is None else Run(Path(folder), metrics)


def finished(folder: Path | str) -> bool:
    return finished_run(folder) is not None


def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
