"""Bipartite mutual information of text with a language model q (paper Sec. 3, eqs. 6–7, Appx. B).

Three estimates of I(X; Y) on the windows and splits of :mod:`l2m.passes`:

- direct: E[log q(Y|X) − log q(Y)]. Y usually starts mid-sentence, so the entropy of its
  first two tokens is corrected with corpus bigram statistics,
  H(Y1 Y2) ≈ (1/5)·H_q(Y1 Y2 | BOS) + (4/5)·Ĥ_G(bigrams of the corpus);
- vCLUB: E_{p(x,y)}[log q(y|x)] − E_{p(x)p(y)}[log q(y|x)], the second term scoring Y of one
  document after X of another, averaged over K random pairings;
- compression: C(X) + C(Y) − C(XY) with C the compressed length in nats (lzma, zstd).

Scores come from :func:`l2m.lm.score_cached`, so an interrupted run resumes. The fits, local slopes, tables
and claims of chapter 01 are in :mod:`l2m.hilberg`.
"""
from __future__ import annotations

import lzma
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from . import paircount, paper
from .entropy import grassberger_entropy_from_histogram
from .params import ParameterError
from .passes import RATIOS, Plan, make_plan, make_windows, plan_points

if TYPE_CHECKING:
    from .tokenizer import TokenArray

def bigram_entropy(tokens: np.ndarray, offsets: np.ndarray, vocab_size: int) -> float:
    """Ĥ_G of consecutive token pairs inside documents: the corpus side of the 2-gram correction.

    Counted as chapter 02 counts its pairs (:func:`l2m.paircount.count_pairs`, within its memory budget).
    """
    table = paircount.count_pairs(tokens, offsets, 1, vocab_size)
    try:
        return grassberger_entropy_from_histogram(*table.histogram())[0]
    finally:
        table.close()


def estimates(plan: Plan, scores: list[np.ndarray], h_bigram: float | None) -> dict[str, np.ndarray]:
    """Per-window estimates (n_windows, n_points) in nats: direct, direct_corrected, vclub."""
    n = len(plan.windows)
    shape = (n, len(plan.points))
    direct, corrected, club = np.zeros(shape), np.zeros(shape), np.full(shape, np.nan)
    w_model, w_corpus = paper.TWO_GRAM_WEIGHTS
    for w in range(n):
        cond = scores[plan.index[("cond", w)]]
        for j, p in enumerate(plan.points):
            y = slice(p.ell, p.length)  # Y's tokens within the window
            log_q_y_given_x = cond[y].sum()
            marg = scores[plan.index[("marg", w, p.ell)]][: p.length - p.ell]
            first_two = marg[:2].sum()  # log q(Y1 Y2 | BOS)
            direct[w, j] = log_q_y_given_x - marg.sum()
            if h_bigram is not None:  # H(Y1Y2) ≈ w_q·H_q(Y1Y2|BOS) + w_G·Ĥ_G(bigrams), weights from the paper
                corrected[w, j] = log_q_y_given_x - marg[2:].sum() - w_model * first_two + w_corpus * h_bigram
            if len(plan.pairings):
                shuffled = [scores[plan.index[("club", k, w, p.ell)]][p.ell : p.length].sum()
                            for k in range(len(plan.pairings))]
                club[w, j] = log_q_y_given_x - np.mean(shuffled)
    out = {"direct": direct, "vclub": club}
    if h_bigram is not None:
        out["direct_corrected"] = corrected
    return out


LZMA_FILTER = {"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": 1 << 20}


def compression_estimates(plan: Plan, decode, compressors: tuple[str, ...] = ("lzma", "zstd")) -> dict[str, np.ndarray]:
    """C(X) + C(Y) − C(XY) − C(∅) in nats per window and point, on the decoded text of the block.

    C(∅) removes the one container header that the difference would otherwise count.
    """
    import zstandard

    codecs = {
        # preset 9 with a 1 MiB dictionary: the same bytes as preset 9's 64 MiB for any input below 1 MiB (a
        # window is a few kB), 15 times faster, since the larger dictionary's set-up cost is paid on every call
        "lzma": lambda b: lzma.compress(b, format=lzma.FORMAT_RAW, filters=[LZMA_FILTER]),
        "zstd": zstandard.ZstdCompressor(level=19, write_checksum=False, write_content_size=False).compress,
    }
    out = {}
    for name in compressors:
        compress = codecs[name]
        def bits(text: str, compress: Callable[[bytes], bytes] = compress) -> int:  # this codec, bound now
            return 8 * len(compress(text.encode("utf-8")))

        empty = bits("")
        values = np.zeros((len(plan.windows), len(plan.points)))
        for w, window in enumerate(plan.windows):
            for j, p in enumerate(plan.points):
                x, y = decode(window[: p.ell]), decode(window[p.ell : p.length])
                values[w, j] = (bits(x) + bits(y) - bits(x + y) - empty) * math.log(2)
        out[f"compression_{name}"] = values
    return out


def summarize(plan: Plan, per_window: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Mean over windows and its standard error, per estimator and point."""
    n = len(plan.windows)
    out = {"ratio": np.array([p.ratio for p in plan.points]), "ell": np.array([p.ell for p in plan.points]),
           "length": np.array([p.length for p in plan.points])}
    for name, values in per_window.items():
        out[name] = values.mean(axis=0)
        out[f"{name}_sem"] = values.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.zeros(values.shape[1])
    return out


@dataclass(frozen=True)
class Measurement:
    """One model on one corpus: the plan, the per-window estimates and their summary."""

    model: str
    corpus: str
    plan: Plan
    per_window: dict[str, np.ndarray]  # name -> (n_windows, n_points)
    summary: dict[str, np.ndarray]
    h_bigram: float  # Ĥ_G of the corpus bigrams (nats)
    first_two_cost: float  # mean −log q(Y1 Y2 | BOS) over the marginal passes (nats)
    cost_by_position: np.ndarray  # mean −log q(w_t | BOS, w_<t) over windows, t = 1..max_len (nats)
    window_start: str = "sentence"  # where the windows start: "sentence" or "random"


def corpus_windows(scorer, corpus_name: str, n_docs: int, max_len: int, seed: int = 0,
                   window_start: str = "sentence") -> tuple[np.ndarray, TokenArray]:
    """The windows of :func:`make_windows` on ``corpus_name`` in the scorer's own tokens, and the token array.

    Raises :class:`~l2m.params.ParameterError` before any scoring when the corpus is too small.
    """
    from .corpus import load_corpus
    from .packaged import tokenizer_name
    from .tokenizer import load_tokenizer, tokenize

    name = tokenizer_name(scorer.name)
    token_array = tokenize(load_corpus(corpus_name), name)
    decode = load_tokenizer(name).decode if window_start == "sentence" else None
    try:
        windows, _ = make_windows(np.asarray(token_array.tokens), np.asarray(token_array.offsets), n_docs, max_len,
                                  seed, window_start, decode)
    except ValueError as error:  # before any scoring: one line naming the parameters to change
        raise ParameterError(f"corpus {corpus_name!r} with {token_array.tokenizer_name}: {error}; "
                             f"lower n_docs or max_len") from None
    return windows, token_array


def measure(scorer, corpus_name: str, n_docs: int, max_len: int, ratios: tuple[int, ...] = RATIOS,
            k_pairings: int = 1, seed: int = 0, vclub: bool = True, compression: bool = True,
            window_start: str = "sentence", other_max_len: int | None = None) -> Measurement:
    """Score and estimate I(X; Y) for one scorer on one corpus (windows and pairings fixed by ``seed``).

    Ratios other than the smallest run up to ``other_max_len`` (:func:`l2m.passes.plan_points`). Raises before
    scoring anything if the corpus has fewer than ``n_docs`` documents of ``max_len`` tokens.
    """
    from .lm import score_cached

    windows, token_array = corpus_windows(scorer, corpus_name, n_docs, max_len, seed, window_start)
    tokens, offsets = np.asarray(token_array.tokens), np.asarray(token_array.offsets)
    plan = make_plan(windows, plan_points(max_len, ratios, other_max_len), k_pairings, seed, vclub)
    h_bigram = bigram_entropy(tokens, offsets, token_array.vocab_size)
    scores = score_cached(scorer, plan.sequences, extends=plan.extends)
    per_window = estimates(plan, scores, h_bigram)
    if not vclub:
        per_window.pop("vclub")
    if compression:
        per_window.update(compression_estimates(plan, scorer.tokenizer.decode))
    first_two = np.mean([-scores[i][:2].sum() for key, i in plan.index.items() if key[0] == "marg"])
    by_position = -np.mean([scores[plan.index[("cond", w)]] for w in range(len(windows))], axis=0)
    return Measurement(scorer.name, corpus_name, plan, per_window, summarize(plan, per_window), h_bigram,
                       float(first_two), by_position, window_start)


def window_costs(scorer, corpus_name: str, n_docs: int, max_len: int, seed: int = 0,
                 window_start: str = "sentence", tokens: int | None = None) -> np.ndarray:
    """Mean −log q(w_t | BOS, w_<t) over the windows, t = 1..``tokens`` (default max_len): one pass per window.

    The windows are those of :func:`measure` with the same arguments; over the whole window these passes are
    already in the score cache. ``tokens`` scores only the start of each window (where the cost falls).
    """
    from .lm import score_cached

    windows, _ = corpus_windows(scorer, corpus_name, n_docs, max_len, seed, window_start)
    return -np.mean(score_cached(scorer, list(windows[:, :tokens])), axis=0)
