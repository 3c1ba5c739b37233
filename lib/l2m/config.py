"""The parameters of one training run (chapter 04), validated into a frozen config.

:class:`TrainConfig` is what ``book/04_train.ipynb`` validates its parameters into, what
:mod:`l2m.train` trains, what :mod:`l2m.tasks` draws data for, what :mod:`l2m.runs` stores inside
every checkpoint and keys run folders by, and what :mod:`l2m.sweep` and :mod:`l2m.condition` build
grids of. It lives apart from the training loop so that all of them can import it without a cycle.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import gaussian, models
from .corpus import CORPORA
from .params import Rule, between, one_of, param


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError
    return value


@dataclass(frozen=True)
class TrainConfig:
    """One training run: the parameters of chapter 04 (book/04_train.ipynb)."""

    arch: str = param("gpt2", one_of(models.ARCHS, "model family"))
    size: str = param("tiny", one_of(models.SIZE_NAMES, "named size; models.SIZES lists those of each arch"))
    task: str = param("gaussian", one_of(models.TASKS, "Gaussian vectors with the KL loss, or corpus text with NLL"))
    seq_len: int = param(0, between(0, 65536, "tokens per sequence; 0 means 4**layers (Gaussian) or 256 (text)"))
    # `layers` is the depth l of the Gaussian data's hierarchy (Appx. C: L = 4**l tokens), not the model's depth
    # (that is n_layer). The name stays: it is the papermill parameter of chapters 04/05, the key of presets and
    # grids (presets/grids/*.yml), the field stored in every run's metrics.json and key, and gaussian's own name.
    layers: int = param(3, between(1, gaussian.MAX_LAYERS, "depth l of the Gaussian data (not of the model: see "
                                                           "n_layer), L = 4**l tokens"))
    family: str = param("power", one_of(gaussian.FAMILIES, "Gaussian family of chapter 03"))
    channels: int = param(8, between(1, 1024, "Gaussian channels per token (the paper: 64)"))
    position_embedding: bool = param(True, one_of((True, False), "swa, Mamba and Mamba2: learned absolute positions "
                                                                 "at the input (GPT2 always has them)"))
    d_state: int = param(0, between(0, 4096, "SSM state per channel; 0 keeps the size's value"))
    window: int = param(0, between(0, 65536, "swa: attention window in tokens, the query included; 0 keeps the "
                                             "size's value"))
    n_layer: int = param(0, between(0, 256, "layers; 0 keeps the size's value"))
    d_model: int = param(0, between(0, 1 << 16, "model width; 0 keeps the size's value"))
    n_head: int = param(0, between(0, 1024, "gpt2 and swa: attention heads, each of d_model / n_head dimensions; 0 keeps "
                                            "the size's value"))
    expand: float = param(0, between(0, 16, "SSMs: inner width d_inner = expand · d_model (a fraction narrows the "
                                            "state below the residual stream); 0 keeps 2", integer=False))
    d_conv: int = param(0, between(0, 64, "SSMs: causal convolution width (1: none); 0 keeps 4"))
    steps: int = param(4000, between(1, 10**8, "optimiser steps"))
    batch: int = param(16, between(1, 1 << 20, "sequences per step (all GPUs together)"))
    lr: float = param(3e-3, between(1e-8, 1.0, "peak learning rate of AdamW", integer=False))
    weight_decay: float = param(0.01, between(0.0, 1.0, "AdamW weight decay", integer=False))
    warmup: int = param(100, between(0, 10**8, "linear warm-up steps"))
    schedule: str = param("wsd", one_of(("wsd", "cosine"), "after the warm-up: constant, then a linear decay to 0 over "
                                                          "the last 20 % of steps (wsd: every run measures its "
                                                          "convergence), or cosine decay to 0 (the paper's)"))
    grad_clip: float = param(1.0, between(0.0, 1e9, "gradient-norm clip; 0 turns it off", integer=False))
    eval_sequences: int = param(256, between(1, 10**7, "held-out sequences of the per-position evaluation"))
    checkpoint_every: int = param(500, between(1, 10**8, "steps between checkpoints"))
    device: str = param("auto", one_of(("auto", "cpu", "cuda"), "auto: CUDA when present"))
    dtype: str = param("float32", one_of(("float32", "bfloat16"), "bfloat16 autocast is meant for GPUs"))
    seed: int = param(0, between(0, 2**31 - 1, "seed of the weights and the training batches"))
    corpus: str = param("books", one_of(CORPORA, "text task: corpus"))
    tokenizer: str = param("smollm2-135m", Rule(_text, "a tokenizer name or local folder", "text task: tokenizer"))
    run_dir: str = param("", Rule(_text, "a folder, or '' for the cache folder keyed by the parameters",
                                  "where checkpoints and metrics go"))
    # a run at length L may start from a finished run of the same model at a shorter length (the issue's "initialise
    # a length's run from the previous length's"): its folder's name keys this run, and that name is the source's key
    init_from: str = param("", Rule(_text, "a finished run's folder (a name under the cache's runs/ or a path), or ''",
                                    "start from that run's weights, its position table tiled to this L; '' starts "
                                    "from random weights"))

    def __post_init__(self) -> None:
        if self.seq_len == 0:  # resolved here so that the key and the checkpoint hold the real length
            object.__setattr__(self, "seq_len", 4**self.layers if self.task == "gaussian" else 256)

    def check(self) -> None:
        if self.size not in models.SIZES[self.arch]:
            raise ValueError(f"size = {self.size!r} is not a size of {self.arch}: use one of "
                             f"{', '.join(repr(s) for s in models.SIZES[self.arch])}")
        if self.task == "gaussian" and self.seq_len > 4**self.layers:
            raise ValueError(f"seq_len = {self.seq_len} is longer than the Gaussian process of layers = "
                             f"{self.layers} (L = {4**self.layers}): raise layers or lower seq_len")
        if self.warmup > self.steps:
            raise ValueError(f"warmup = {self.warmup} is more than steps = {self.steps}")
