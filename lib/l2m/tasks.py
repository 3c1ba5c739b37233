"""The two training tasks of chapter 04: fresh Gaussian sequences with the exact KL, and corpus text with the NLL.

Each task draws a batch from a seed (``sample(seed, size, split)``), cuts a batch into the rows
of one process (``part``) and gives the loss at every position (``loss``, (B, L)). The paper's
Gaussian runs (Appx. E/F) draw fresh sequences at every step and measure the conditional KL
against the exact conditionals (Appx. E); its text runs (Fig. 5) train on PG19 windows and
evaluate the NLL per position on held-out documents.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import cache, gaussian
from .config import TrainConfig

HELD_OUT = 20  # text: one document in HELD_OUT (by a hash of its id) is held out for evaluation


class GaussianTask:
    """Fresh sequences of the Gaussian family with their exact conditionals; loss = conditional KL (Appx. E)."""

    metric = "kl"

    def __init__(self, cfg: TrainConfig, device: torch.device):
        self.cov = gaussian.covariance(cfg.layers, cfg.family)[: cfg.seq_len, : cfg.seq_len]  # a prefix is exact
        self.sampler = gaussian.GaussianSampler(self.cov, cfg.channels, backend="torch", device=str(device))
        self.device = device

    def sample(self, seed: int, size: int, split: str = "train") -> gaussian.GaussianBatch:
        # train and eval differ by their seeds only: the process has no documents to hold out
        return self.sampler.sample(size, torch.Generator(self.device).manual_seed(seed))

    @staticmethod
    def part(batch: gaussian.GaussianBatch, rows: slice) -> gaussian.GaussianBatch:
        return gaussian.GaussianBatch(batch.inputs[rows], batch.targets[rows], batch.mean[rows], batch.std)

    @staticmethod
    def loss(output: tuple[torch.Tensor, torch.Tensor], batch: gaussian.GaussianBatch) -> torch.Tensor:
        mean, std = output  # (B, L, C) each
        return gaussian.conditional_kl(mean.float(), std.float(), batch.mean, batch.std)  # (B, L)


@dataclass(frozen=True)
class TextBatch:
    inputs: torch.Tensor  # (B, L) BOS then tokens 1..L−1
    targets: torch.Tensor  # (B, L) tokens 1..L


class TextTask:
    """Windows of ``seq_len`` tokens cut from the corpus at random places; NLL of every token (Sec. 5, Fig. 5).

    One document in :data:`HELD_OUT` (by a hash of its id) is kept for evaluation. The paper started
    its samples at a sentence; here a window may start anywhere in a document.
    """

    metric = "nll"

    def __init__(self, cfg: TrainConfig, device: torch.device):
        from . import corpus, tokenizer

        array = tokenizer.tokenize(corpus.load_corpus(cfg.corpus), cfg.tokenizer)
        tok = tokenizer.load_tokenizer(cfg.tokenizer)
        self.bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        self.vocab_size, self.tokens, self.seq_len, self.device = array.vocab_size, array.tokens, cfg.seq_len, device
        held = np.array([int(cache.key_digest({"doc": d})[:8], 16) % HELD_OUT == 0 for d in array.doc_ids])
        self.windows = {name: self._windows(array.offsets, docs) for name, docs in (("train", ~held), ("eval", held))}

    def _windows(self, offsets: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        starts, lengths = offsets[:-1][docs], np.diff(offsets)[docs]
        counts = np.maximum(lengths - self.seq_len + 1, 0)  # windows that fit in each document
        if counts.sum() == 0:
            raise ValueError(f"no document of this split is {self.seq_len} tokens long: lower seq_len")
        return starts, np.cumsum(counts)

    def sample(self, seed: int, size: int, split: str = "train") -> TextBatch:
        starts, cum = self.windows[split]
        generator = torch.Generator().manual_seed(seed)
        r = torch.randint(int(cum[-1]), (size,), generator=generator).numpy()  # uniform over all windows
        doc = np.searchsorted(cum, r, side="right")
        first = starts[doc] + r - np.concatenate([[0], cum])[doc]
        words = torch.from_numpy(self.tokens[first[:, None] + np.arange(self.seq_len)].astype(np.int64))
        bos = torch.full((size, 1), self.bos, dtype=torch.int64)
        return TextBatch(torch.cat([bos, words[:, :-1]], 1).to(self.device), words.to(self.device))

    @staticmethod
    def part(batch: TextBatch, rows: slice) -> TextBatch:
        return TextBatch(batch.inputs[rows], batch.targets[rows])

    @staticmethod
    def loss(logits: torch.Tensor, batch: TextBatch) -> torch.Tensor:
        b, n, v = logits.shape
        return F.cross_entropy(logits.float().reshape(b * n, v), batch.targets.reshape(-1), reduction="none").view(b, n)


def make_task(cfg: TrainConfig, device: torch.device) -> GaussianTask | TextTask:
    return GaussianTask(cfg, device) if cfg.task == "gaussian" else TextTask(cfg, device)
