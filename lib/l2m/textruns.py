"""NLL against position of trained text runs on held-out documents, from sentence starts (chapter 05).

The paper's second test of the L2M condition (Sec. 5; NeurIPS Fig. 4 at 8192 tokens, Fig. G.9 at 4096; first
version Fig. 5) trains GPT2 and Mamba from scratch on PG19 and compares their conditional NLL at every position t
of held-out samples that start at a sentence. This module is that evaluation for the runs of :mod:`l2m.train`:

- the held-out documents are those :class:`l2m.tasks.TextTask` keeps for evaluation, read off its own
  evaluation windows (:func:`held_out_documents`), so the rule is TextTask's, never a copy of it;
- windows of ``seq_len`` tokens start at sentence starts (:func:`l2m.passes.sentence_starts`, pysbd's sentences
  as in chapter 01), up to ``per_doc`` windows a document spread over it, none overlapping
  (:func:`sentence_windows`); TextTask's own evaluation windows start anywhere;
- every window is scored by the run's model with TextTask's loss after a BOS (:func:`window_nll`), and the
  per-document sums are cached per run (:func:`position_nll`);
- the band is a bootstrap over documents (:func:`bootstrap`: windows of one document are not independent), paired
  between runs evaluated on the same windows, so differences get their own band;
- curves are smoothed over log-spaced windows of positions (:func:`log_bins`, ``BINS_PER_DECADE`` a decade), the
  paper's "small window of positions" made even on its log axis.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import torch

from . import cache, passes, runs, tokenizer
from .config import TrainConfig
from .tasks import TextBatch, TextTask

PER_DOC = 8  # windows per held-out document at most: a long novel would otherwise outweigh the rest
SEARCH, CONTEXT = 256, 64  # tokens searched for a sentence start, and read before it (as passes.make_windows)
BOOTSTRAP = 1000  # redraws of the documents for every band
BINS_PER_DECADE = 16  # smoothing: log-spaced windows of positions, 16 a decade (positions 1..~8 stay single)
CHUNK = 8  # windows per forward pass


def _task(corpus_name: str, tokenizer_name: str, seq_len: int) -> TextTask:
    cfg = TrainConfig(task="text", corpus=corpus_name, tokenizer=tokenizer_name, seq_len=seq_len)
    return TextTask(cfg, torch.device("cpu"))


def held_out_documents(task: TextTask, offsets: np.ndarray) -> np.ndarray:
    """Indices of the documents that hold ``task``'s evaluation windows (TextTask's held-out rule, at its L).

    A document with at least one window has tokens, so its first offset names it uniquely.
    """
    starts, cum = task.windows["eval"]
    counts = np.diff(np.concatenate([[0], cum]))
    return np.flatnonzero(np.isin(offsets[:-1], starts[counts > 0]) & (np.diff(offsets) > 0))


def split_documents(corpus_name: str = "books", tokenizer_name: str = tokenizer.DEFAULT_TOKENIZER
                    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(training document ids, held-out document ids) of TextTask on a corpus: every document with a token is
    in exactly one (at seq_len 1 every such document has windows)."""
    from . import corpus

    array = tokenizer.tokenize(corpus.load_corpus(corpus_name), tokenizer_name)
    held = held_out_documents(_task(corpus_name, tokenizer_name, 1), array.offsets)
    train = np.setdiff1d(np.flatnonzero(np.diff(array.offsets) > 0), held)
    return tuple(array.doc_ids[i] for i in train), tuple(array.doc_ids[i] for i in held)


def sentence_windows(tokens: np.ndarray, offsets: np.ndarray, docs: np.ndarray, seq_len: int, decode,
                     per_doc: int = PER_DOC) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``seq_len`` tokens that start at sentence starts: (windows (n, seq_len) int64, document of each).

    Each document is cut into ``k = min(per_doc, length // (seq_len + SEARCH))`` equal parts (at least one); in
    each part the window starts at the first sentence start (:func:`l2m.passes.sentence_starts`) within
    ``SEARCH`` tokens of the part's beginning and ends inside the part, so windows never overlap. A part with
    no sentence start there gives no window: every window begins a sentence.
    """
    windows, owners = [], []
    for doc in docs:
        first, length = int(offsets[doc]), int(offsets[doc + 1] - offsets[doc])
        if length < seq_len:
            continue
        k = max(1, min(per_doc, length // (seq_len + SEARCH)))
        part = length // k
        for j in range(k):
            begin, end = first + j * part, first + (length if j == k - 1 else (j + 1) * part)
            left = max(first, begin - CONTEXT)
            margin = 0 if left == first else CONTEXT  # a cut before the context could fool the splitter
            found = [left + i for i in passes.sentence_starts(tokens[left: begin + SEARCH], decode)
                     if i >= margin and left + i >= begin and left + i + seq_len <= end]
            if found:
                windows.append(np.asarray(tokens[found[0]: found[0] + seq_len], dtype=np.int64))
                owners.append(doc)
    if not windows:
        raise ValueError(f"no held-out document has a window of {seq_len} tokens at a sentence start")
    return np.stack(windows), np.asarray(owners)


@torch.no_grad()
def window_nll(model: torch.nn.Module, windows: np.ndarray, bos: int, chunk: int = CHUNK) -> np.ndarray:
    """NLL of every token of every window given BOS and the tokens before it, (n, L) float64: TextTask's loss."""
    model.eval()
    rows = []
    for start in range(0, len(windows), chunk):
        targets = torch.from_numpy(windows[start: start + chunk])
        inputs = torch.cat([torch.full((len(targets), 1), bos, dtype=torch.int64), targets[:, :-1]], 1)
        rows.append(TextTask.loss(model(inputs), TextBatch(inputs, targets)).double().numpy())
    return np.concatenate(rows)


@dataclass(frozen=True)
class PositionNLL:
    """A run's NLL on the held-out sentence windows, kept per document (what the bootstrap redraws)."""

    label: str
    sums: np.ndarray  # (n_docs, L): NLL summed over each document's windows, position by position
    counts: np.ndarray  # (n_docs,): windows of each document
    doc_ids: tuple[str, ...]  # the held-out documents with windows, in the rows' order

    @property
    def mean(self) -> np.ndarray:
        """NLL at every position t = 1..L over all windows, (L,)."""
        return self.sums.sum(0) / self.counts.sum()

    @property
    def windows(self) -> int:
        return int(self.counts.sum())


def position_nll(run: runs.Run, per_doc: int = PER_DOC, label: str = "") -> PositionNLL:
    """The run's NLL at every position on held-out windows that start at sentence starts (cached per run)."""
    cfg = run.config
    key = {"run": run.folder.name, "per_doc": per_doc, "seq_len": cfg.seq_len}

    def compute() -> dict[str, np.ndarray]:
        from . import corpus

        array = tokenizer.tokenize(corpus.load_corpus(cfg.corpus), cfg.tokenizer)
        task = _task(cfg.corpus, cfg.tokenizer, cfg.seq_len)
        docs = held_out_documents(task, array.offsets)
        tok = tokenizer.load_tokenizer(cfg.tokenizer)
        windows, owners = sentence_windows(array.tokens, array.offsets, docs, cfg.seq_len, tok.decode, per_doc)
        nll = window_nll(runs.load_model(run.folder), windows, task.bos)
        used, index = np.unique(owners, return_inverse=True)
        sums = np.zeros((len(used), cfg.seq_len))
        np.add.at(sums, index, nll)
        return {"sums": sums, "counts": np.bincount(index).astype(float), "docs": used}

    stored = cache.load_or_compute("text_position", key, compute, modules=[sys.modules[__name__], passes])
    from . import corpus

    ids = corpus.load_corpus(cfg.corpus).documents
    return PositionNLL(label or run.folder.name, stored["sums"], stored["counts"],
                       tuple(ids[int(i)].id for i in stored["docs"]))


def redraws(n_docs: int, n: int = BOOTSTRAP, seed: int = 0) -> np.ndarray:
    """(n, n_docs) document indices drawn with replacement: one bootstrap redraw a row, shared by every run."""
    return np.random.default_rng(seed).integers(0, n_docs, size=(n, n_docs))


def bootstrap(result: PositionNLL, draws: np.ndarray) -> np.ndarray:
    """The NLL at every position under each redraw of the documents, (n, L)."""
    return result.sums[draws].sum(1) / result.counts[draws].sum(1)[:, None]


def log_bins(seq_len: int, per_decade: int = BINS_PER_DECADE) -> tuple[np.ndarray, np.ndarray]:
    """Smoothing over log-spaced windows of positions: (centres (n_bins,), averaging matrix (n_bins, L)).

    Bin edges are ``10**(k / per_decade)`` rounded to whole positions (repeats dropped), so early positions stay
    single and late ones are averaged over a window ~15 % wide; a bin's centre is its positions' geometric mean.
    """
    edges = np.unique(np.round(np.logspace(0, np.log10(seq_len + 1), int(per_decade * np.log10(seq_len + 1)) + 2)))
    edges = edges[(edges >= 1) & (edges <= seq_len + 1)].astype(int)
    edges = np.unique(np.concatenate([[1], edges, [seq_len + 1]]))
    matrix = np.zeros((len(edges) - 1, seq_len))
    centres = np.zeros(len(edges) - 1)
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        matrix[i, lo - 1: hi - 1] = 1 / (hi - lo)  # positions lo..hi−1 (1-based)
        centres[i] = np.exp(np.log(np.arange(lo, hi)).mean())
    return centres, matrix


def check_paired(results: list[PositionNLL]) -> None:
    """Runs compared position by position must have been scored on the same documents at the same length."""
    first = results[0]
    for r in results[1:]:
        if r.doc_ids != first.doc_ids or r.sums.shape != first.sums.shape or not np.array_equal(r.counts, first.counts):
            raise ValueError(f"{r.label} and {first.label} were not evaluated on the same windows (tokenizer, corpus "
                             "or length differ): their difference has no paired band")
