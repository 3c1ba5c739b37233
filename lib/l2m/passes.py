"""The forward passes of a bipartite-MI measurement (paper Sec. 3, Appx. B): windows, splits, the plan.

A block W_{1:L} of one document is split into X = W_{1:ℓ} and Y = W_{ℓ+1:L}, with L = r·ℓ for the split
ratios r ∈ {2, 3, 4} and ℓ = 2, 4, 8, … . Windows start at a sentence (pysbd's sentences, as the paper's
samples do) or, as a control, at a random token.

The planner scores as little as possible. Every window is one block of ``max_len`` tokens; a single causal
pass over it gives log q(Y|X) for every ℓ and every ratio (Y's tokens are scored with exactly their own X
before them). The marginal log q(Y) needs one pass per ℓ, only as long as the longest Y that starts at ℓ + 1
(its prefixes serve the smaller ratios). vCLUB needs, per ℓ and pairing, Y after the X' of another window:
X' is the start of that window's own pass, so a scorer that keeps KV caches runs only Y
(:attr:`Plan.extends`, :func:`l2m.lm.score_cached`). The paper's released code scores more
(:func:`official_forward_tokens`: about 4 times more at L = 2048).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

RATIOS = (2, 3, 4)
MIN_ELL = 2


@dataclass(frozen=True)
class Point:
    """One measured split: ratio r, |X| = ell, block length L = r·ell."""

    ratio: int
    ell: int

    @property
    def length(self) -> int:
        return self.ratio * self.ell


def plan_points(max_len: int, ratios: tuple[int, ...] = RATIOS, other_max_len: int | None = None) -> list[Point]:
    """Every (r, ℓ) with ℓ = 2, 4, 8, … and r·ℓ ≤ max_len; ratios other than the smallest only up to
    ``other_max_len`` (None: ``max_len``), since their passes cost most at long L and the main fits use the
    smallest ratio (the equal split)."""
    points = []
    for ratio in ratios:
        top = max_len if ratio == min(ratios) or other_max_len is None else min(max_len, other_max_len)
        ell = MIN_ELL
        while ratio * ell <= top:
            points.append(Point(ratio, ell))
            ell *= 2
    if not points:
        raise ValueError(f"max_len = {max_len} is too short for any split with ratios {ratios}")
    return points


def longest_ratio(points: list[Point]) -> dict[int, int]:
    """For each ℓ, the largest ratio measured: its marginal and vCLUB passes cover all smaller ones."""
    out: dict[int, int] = {}
    for p in points:
        out[p.ell] = max(out.get(p.ell, 0), p.ratio)
    return out


def sentence_starts(ids: np.ndarray, decode: Callable[[list[int]], str]) -> list[int]:
    """Indices i > 0 of the tokens of ``ids`` that begin a sentence of their decoded text.

    The paper starts its samples at sentence starts (Appx. A); the sentences are pysbd's, a rule-based
    splitter (abbreviations such as "Mr." and numbers such as "3.5" do not end a sentence). A token
    begins a sentence when the sentence's first character lies in it after whitespace only (byte-level
    BPE puts the space before a word into the word's token). Token 0 is left out: whether the text
    before ``ids`` ended a sentence is unknown here.
    """
    import pysbd

    ids = [int(i) for i in ids]
    text = decode(ids)
    prefixes = [decode(ids[:i]) for i in range(len(ids) + 1)]  # token i starts at len(prefixes[i])
    segments = pysbd.Segmenter(language="en", clean=False).segment(text)  # they concatenate back to text
    starts, position, token = [], 0, 0
    for segment, following in zip(segments, segments[1:]):
        position += len(segment)
        first = position + len(following) - len(following.lstrip())  # the next sentence's first character
        while token < len(ids) and len(prefixes[token + 1]) <= first:
            token += 1
        begin = len(prefixes[token])
        if 0 < token < len(ids) and text.startswith(prefixes[token]) and not text[begin:first].strip():
            starts.append(token)
    return starts


WINDOW_STARTS = ("sentence", "random")


def make_windows(tokens: np.ndarray, offsets: np.ndarray, n_docs: int, max_len: int, seed: int = 0,
                 window_start: str = "random", decode: Callable[[list[int]], str] | None = None,
                 search: int = 256, context: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """One block of ``max_len`` tokens from each of ``n_docs`` documents long enough.

    ``window_start = "random"`` starts it at a uniformly random token (often mid-word); ``"sentence"``
    (the paper's choice, needs ``decode``) at the first sentence start (:func:`sentence_starts`) within
    ``search`` tokens after a random token (the splitter also reads ``context`` tokens before it), drawing
    again up to 8 times, else at the document's start.
    Returns (windows (n, max_len), document indices). Raises when fewer documents are long enough.
    """
    if window_start not in WINDOW_STARTS or (window_start == "sentence" and decode is None):
        raise ValueError(f"window_start must be one of {WINDOW_STARTS} ('sentence' needs decode), not {window_start!r}")
    lengths = np.diff(offsets)
    eligible = np.flatnonzero(lengths >= max_len)
    if len(eligible) < n_docs:
        raise ValueError(f"only {len(eligible)} documents have at least {max_len} tokens; asked for {n_docs}")
    rng = np.random.default_rng(seed)
    docs = np.sort(rng.choice(eligible, size=n_docs, replace=False))
    starts = offsets[docs] + rng.integers(0, lengths[docs] - max_len + 1)
    if window_start == "sentence":
        for i, doc in enumerate(docs):
            last = offsets[doc] + lengths[doc] - max_len  # the latest start that still fits
            for attempt in range(8):
                begin = starts[i] if attempt == 0 else offsets[doc] + rng.integers(0, lengths[doc] - max_len + 1)
                # the splitter reads ``context`` tokens before ``begin``: a sentence cut there (say after "M" of
                # "Mr.") fools it, so only boundaries at least ``context`` tokens into the text read are kept
                left = max(offsets[doc], begin - context)
                margin = 0 if left == offsets[doc] else context  # a document's start is a true start
                found = [left + j for j in sentence_starts(tokens[left : begin + search], decode)
                         if left + j >= begin and j >= margin and left + j <= last]
                if found:
                    starts[i] = found[0]
                    break
            else:
                starts[i] = offsets[doc]  # a document starts a sentence
    return np.stack([tokens[s : s + max_len] for s in starts]).astype(np.int64), docs


def derangements(n: int, k: int, seed: int = 0) -> np.ndarray:
    """``k`` random permutations of range(n) with no fixed point: X of another document for each Y."""
    rng = np.random.default_rng([seed, 1])
    out = []
    while len(out) < k:
        perm = rng.permutation(n)
        if n < 2 or np.all(perm != np.arange(n)):
            out.append(perm)
    return np.array(out, dtype=np.int64).reshape(k, n)


@dataclass(frozen=True)
class Plan:
    """The forward passes of one measurement, in the order they are scored."""

    points: list[Point]
    windows: np.ndarray  # (n, max_len)
    pairings: np.ndarray  # (K, n): partner window of each window's Y in vCLUB
    sequences: list[np.ndarray]  # every pass's tokens (BOS is added by the scorer)
    index: dict[tuple, int]  # ("cond", w) / ("marg", w, ell) / ("club", k, w, ell) -> position in sequences
    extends: dict[int, tuple[int, int]]  # a vCLUB pass i -> (j, ℓ): its first ℓ tokens are those of pass j

    @property
    def forward_tokens(self) -> int:
        """Tokens through the model, BOS included, when a vCLUB pass reuses its partner's cache for X'."""
        return sum(len(s) + 1 if i not in self.extends else len(s) - self.extends[i][1]
                   for i, s in enumerate(self.sequences))

    @property
    def forward_tokens_without_reuse(self) -> int:
        """Tokens through the model, BOS included, when every pass is run whole."""
        return sum(len(s) + 1 for s in self.sequences)


def make_plan(windows: np.ndarray, points: list[Point], k_pairings: int = 1, seed: int = 0,
              vclub: bool = True) -> Plan:
    n, max_len = windows.shape
    reach = longest_ratio(points)
    pairings = derangements(n, k_pairings if vclub else 0, seed)
    sequences: list[np.ndarray] = []
    index: dict[tuple, int] = {}

    def add(key: tuple, seq: np.ndarray) -> None:
        index[key] = len(sequences)
        sequences.append(seq)

    longest = max(p.length for p in points)
    for w in range(n):
        add(("cond", w), windows[w, :longest])
        for ell, ratio in reach.items():
            add(("marg", w, ell), windows[w, ell : ratio * ell])
            for k in range(len(pairings)):
                add(("club", k, w, ell), np.concatenate([windows[pairings[k, w], :ell], windows[w, ell : ratio * ell]]))
    extends = {index[("club", k, w, ell)]: (index[("cond", pairings[k, w])], ell)
               for w in range(n) for ell in reach for k in range(len(pairings))}
    return Plan(points, windows, pairings, sequences, index, extends)


def official_forward_tokens(max_len: int, splits: Iterable[int]) -> int:
    """Forward tokens per window of the paper's released scoring code (``compute_entropy_from_llm.py``).

    One full pass (L + 1 tokens with BOS) gives log q(Y|X); each split ℓ adds one spliced pass
    (L + 1, vCLUB) and one marginal pass (L + 1 − ℓ), shared by all ratios: 40,983 tokens at
    L = 2048, ℓ = 2, 4, …, 1024 (counted from the released code).
    """
    splits = list(splits)
    return (max_len + 1) * (1 + len(splits)) + sum(max_len + 1 - ell for ell in splits)
