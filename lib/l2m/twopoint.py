"""Two-point mutual information of token sequences against distance (paper Appx. B, eqs. B.10–B.15).

For a distance d, every ordered pair (w_i, w_{i+d}) inside one document (never across a
document boundary) is an outcome of (X, Y), and

    Î(d) = Ĥ_G(X) + Ĥ_G(Y) − Ĥ_G(XY)

with Grassberger's entropy (:mod:`l2m.entropy`). The pair table is never held densely for a
large vocabulary (V² ≈ 2·10⁹ cells for a 49k-token BPE): each pair becomes one integer
code w_i·V + w_{i+d}, the codes are sorted, and the run lengths are the pair counts. Small
alphabets (characters, top-K tokens) use a dense ``bincount`` instead. Distances are counted
on parallel threads; numpy's sort releases the GIL.

Tokens come as one flat array with document offsets (``offsets[k]:offsets[k+1]`` is document k),
the layout of :class:`l2m.corpus.TokenArray`.
"""
from __future__ import annotations

import math
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .corpus import CORPORA
from .entropy import (
    count_histogram,
    grassberger_entropy_from_histogram,
    plugin_entropy_from_histogram,
)
from .fit import PowerLawFit, fit_power_law_weighted, fit_power_law_with_offset
from .params import Rule, between, one_of, param, subset_of


def _nonempty_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError
    return value

DEFAULT_DISTANCES = tuple(2**k for k in range(13))  # 1, 2, 4, ..., 4096 as in the paper
DENSE_TABLE_LIMIT = 1 << 22  # V² up to 4M cells: count with bincount (32 MB), else sort


@dataclass(frozen=True)
class TwoPointMI:
    """Î(d) for each distance, with the entropies it comes from (nats)."""

    distances: np.ndarray
    mi: np.ndarray  # Grassberger estimate
    stderr: np.ndarray  # first-order (delta-method) sampling standard error of Î, see :func:`mi_stderr`
    mi_plugin: np.ndarray  # naive plug-in estimate, for the bias comparison
    n_pairs: np.ndarray


def pairs_at(tokens: np.ndarray, offsets: np.ndarray, d: int, span: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Left and right members of every pair at distance d inside a document.

    With ``span`` (≥ d) only the left positions i < length − span of each document are used, the
    same positions for every d ≤ span: then every distance has the same number of pairs.
    """
    span = d if span is None else span
    starts, ends = offsets[:-1], offsets[1:]
    keep = ends - starts > span
    left = [tokens[s : e - span] for s, e in zip(starts[keep], ends[keep])]
    right = [tokens[s + d : e - span + d] for s, e in zip(starts[keep], ends[keep])]
    if not left:
        return tokens[:0], tokens[:0]
    return np.concatenate(left), np.concatenate(right)


def pair_counts(left: np.ndarray, right: np.ndarray, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes left·V + right of the distinct pairs seen, and how often each was seen."""
    if vocab_size * vocab_size <= DENSE_TABLE_LIMIT:
        table = np.bincount(left.astype(np.int64) * vocab_size + right, minlength=vocab_size * vocab_size)
        seen = np.flatnonzero(table)
        return seen, table[seen]
    dtype = np.uint32 if vocab_size * vocab_size < 2**32 else np.uint64
    codes = np.sort(left.astype(dtype) * dtype(vocab_size) + right.astype(dtype))
    ends = np.concatenate((np.flatnonzero(codes[1:] != codes[:-1]), [len(codes) - 1]))  # last index of each run
    return codes[ends].astype(np.int64), np.diff(np.concatenate(([-1], ends)))


def pair_count_histogram(left: np.ndarray, right: np.ndarray, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Histogram (values, multiplicities) of the counts of distinct (left, right) pairs."""
    return count_histogram(pair_counts(left, right, vocab_size)[1])


def mi_stderr(codes: np.ndarray, counts: np.ndarray, left_counts: np.ndarray, right_counts: np.ndarray) -> float:
    """First-order standard error of a two-point MI: sqrt(Var[i(x, y)] / N), i the pointwise MI.

    i(x, y) = ln(n_xy N / (n_x n_y)) over the pairs seen. Adding the three entropies' errors in
    quadrature would overstate it many times, since the three move together. For independent
    members it is ~0 and the estimator's own fluctuation dominates: the shuffle baselines measure that.
    """
    vocab_size = len(left_counts)
    n_total = float(counts.sum())
    pointwise = (np.log(counts) + np.log(n_total) - np.log(left_counts[codes // vocab_size])
                 - np.log(right_counts[codes % vocab_size]))
    weights = counts / n_total
    mean = float(weights @ pointwise)
    return math.sqrt(max(float(weights @ pointwise**2) - mean**2, 0.0) / n_total)


def two_point_at(
    tokens: np.ndarray, offsets: np.ndarray, d: int, vocab_size: int, span: int | None = None
) -> tuple[float, float, float, int]:
    """(Î_G, stderr, Î_plugin, pairs) at one distance (``span``: see :func:`pairs_at`)."""
    left, right = pairs_at(tokens, offsets, d, span)
    if len(left) < 2:
        return float("nan"), float("nan"), float("nan"), len(left)
    side_counts = [np.bincount(side, minlength=vocab_size) for side in (left, right)]
    codes, counts = pair_counts(left, right, vocab_size)
    histograms = [count_histogram(c) for c in (*side_counts, counts)]
    hx, hy, hxy = (grassberger_entropy_from_histogram(*h)[0] for h in histograms)
    plugin = [plugin_entropy_from_histogram(*h) for h in histograms]
    return hx + hy - hxy, mi_stderr(codes, counts, *side_counts), plugin[0] + plugin[1] - plugin[2], len(left)


def pair_counts_per_distance(offsets: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """Number of in-document pairs at each distance: Σ_docs max(0, length − d)."""
    lengths = np.diff(offsets)
    return np.array([np.maximum(lengths - d, 0).sum() for d in distances])


def two_point_mi(
    tokens: np.ndarray,
    offsets: np.ndarray,
    distances: tuple[int, ...] | np.ndarray = DEFAULT_DISTANCES,
    vocab_size: int | None = None,
    equal_pairs: bool = False,
    workers: int = 2,
) -> TwoPointMI:
    """Two-point MI Î(d) of a corpus for each distance (paper eq. B.15).

    ``equal_pairs`` uses the same left positions (those at least a span from the document's end)
    at every distance, so every d has the same number of pairs and the estimator's bias is the
    same constant at every d, as the offset fit assumes. The span is the largest distance at
    which at least half of the tokens still start a pair (short documents would otherwise drop
    out entirely); larger distances give NaN.
    """
    distances = np.asarray(distances, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    vocab_size = int(vocab_size or int(tokens.max()) + 1)
    span = None
    if equal_pairs:
        usable = distances[pair_counts_per_distance(offsets, distances) >= 0.5 * offsets[-1]]
        span = int(usable.max()) if len(usable) else 0

    def one(d: int) -> tuple[float, float, float, int]:
        if span is not None and d > span:
            return float("nan"), float("nan"), float("nan"), 0
        return two_point_at(tokens, offsets, int(d), vocab_size, span)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        rows = list(pool.map(one, distances))
    mi, stderr, plugin, n_pairs = (np.array(col) for col in zip(*rows))
    return TwoPointMI(distances, mi, stderr, plugin, n_pairs.astype(np.int64))


def shuffle_within_documents(tokens: np.ndarray, offsets: np.ndarray, seed: int = 0) -> np.ndarray:
    """A copy with each document's tokens randomly permuted: no sequential dependence left.

    Each document keeps its own unigram counts, so two tokens of one document still share
    information about which document they came from: Î(d) of this copy is the estimator's bias
    *plus* the between-document MI, a constant in d (part of the paper's offset C).
    """
    rng = np.random.default_rng(seed)
    shuffled = np.array(tokens, copy=True)
    for start, end in zip(offsets[:-1], offsets[1:]):
        shuffled[start:end] = rng.permutation(shuffled[start:end])
    return shuffled


def shuffle_across_corpus(tokens: np.ndarray, offsets: np.ndarray, seed: int = 0) -> np.ndarray:
    """A copy with all tokens permuted across the corpus, then cut back into the same document lengths.

    Same N, same pair counts at every d, same corpus-wide marginals, and no dependence of any kind:
    Î(d) of this copy is the estimator's bias alone, the baseline to subtract from the raw curve.
    """
    del offsets  # the documents keep their lengths: the offsets stay as they are
    return np.random.default_rng(seed).permutation(np.asarray(tokens))


def document_unigram_corpus(n_docs: int, length: int, vocab: int, concentration: float = 0.5,
                            seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """Documents of i.i.d. tokens, each document from its own unigram law (a Dirichlet draw).

    No sequential dependence at all, yet two tokens of one document are dependent through the
    document: I(d) is the same at every d, and exactly I = Σ p(x, y) ln p(x, y)/(p(x) p(y)) with
    p(x, y) = mean over documents of p_k(x) p_k(y). Returns (tokens, offsets, that exact I).
    """
    rng = np.random.default_rng(seed)
    laws = rng.dirichlet(np.full(vocab, concentration), size=n_docs)  # (n_docs, vocab)
    tokens = np.concatenate([rng.choice(vocab, size=length, p=law) for law in laws]).astype(np.uint32)
    joint = laws.T @ laws / n_docs  # (vocab, vocab), every document the same number of pairs
    marginal = laws.mean(axis=0)
    exact = float(np.sum(joint * np.log(joint / np.outer(marginal, marginal))))
    return tokens, np.arange(n_docs + 1, dtype=np.int64) * length, exact


def top_k_alphabet(tokens: np.ndarray, k: int) -> np.ndarray:
    """Tokens relabelled by frequency rank, the k most frequent kept and all others one class k.

    A coarser alphabet makes V² ≪ N, so the pair table is well sampled.
    """
    counts = np.bincount(tokens)
    order = np.argsort(-counts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return np.minimum(rank[tokens], k).astype(np.uint32)


def resample_documents(tokens: np.ndarray, offsets: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A bootstrap replicate: documents drawn with replacement, concatenated with new offsets."""
    picks = rng.integers(0, len(offsets) - 1, size=len(offsets) - 1)
    pieces = [tokens[offsets[i] : offsets[i + 1]] for i in picks]
    new_offsets = np.concatenate(([0], np.cumsum([len(p) for p in pieces])))
    return np.concatenate(pieces), new_offsets


def corrected_curve(raw: np.ndarray, raw_stderr: np.ndarray, baseline: np.ndarray,
                    baseline_sd: np.ndarray, n_shuffle: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw Î(d) minus the corpus-wide shuffle baseline, with each point's standard error.

    The baseline is a mean of ``n_shuffle`` shuffles whose spread is ``baseline_sd``; the raw
    estimate carries the same estimator fluctuation (same N, same marginals) on top of its own
    sampling error: σ² = raw_stderr² + sd² + sd²/n_shuffle.
    """
    sigma = np.sqrt(raw_stderr**2 + baseline_sd**2 * (1 + 1 / n_shuffle))
    return raw - baseline, sigma


def corrected_fit(distances: np.ndarray, corrected: np.ndarray, sigma: np.ndarray) -> PowerLawFit:
    """A·d^−α fitted to every point of a corrected curve (weighted, linear space; finite points only)."""
    ok = np.isfinite(corrected) & np.isfinite(sigma)
    floor = 1e-3 * float(np.nanmax(sigma[ok])) if ok.any() else 1.0  # a σ of exactly 0 would take all the weight
    return fit_power_law_weighted(distances[ok], corrected[ok], np.maximum(sigma[ok], floor))


def bootstrap_alpha(
    tokens: np.ndarray,
    offsets: np.ndarray,
    distances: tuple[int, ...] | np.ndarray = DEFAULT_DISTANCES,
    n_boot: int = 20,
    vocab_size: int | None = None,
    sigma: np.ndarray | None = None,
    equal_pairs: bool = True,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """α of both bias-corrected fits on ``n_boot`` replicates with documents drawn with replacement.

    Each replicate redraws the corpus-wide shuffle, so the spread of ``corrected`` (α of raw −
    shuffled, weighted by ``sigma``) includes the baseline's own noise as well as which
    documents happen to be in the corpus, which dominates the least-squares error of one fit.
    ``equal`` is α of the offset fit to the equal-pairs curve (NaN when ``equal_pairs`` is off).
    """
    from tqdm import tqdm

    distances = np.asarray(distances, dtype=np.int64)
    rng = np.random.default_rng(seed)
    vocab_size = int(vocab_size or int(tokens.max()) + 1)
    sigma = np.ones(len(distances)) if sigma is None else np.asarray(sigma, dtype=float)
    corrected, equal = [], []
    for _ in tqdm(range(n_boot), desc="bootstrap over documents", leave=False):
        sample_tokens, sample_offsets = resample_documents(tokens, offsets, rng)
        raw = two_point_mi(sample_tokens, sample_offsets, distances, vocab_size).mi
        shuffled = shuffle_across_corpus(sample_tokens, sample_offsets, int(rng.integers(2**32)))
        baseline = two_point_mi(shuffled, sample_offsets, distances, vocab_size).mi
        corrected.append(-corrected_fit(distances, raw - baseline, sigma).exponent)
        if equal_pairs:
            curve = two_point_mi(sample_tokens, sample_offsets, distances, vocab_size, equal_pairs=True).mi
            usable = np.isfinite(curve) & (curve > 0)
            equal.append(fit_power_law_with_offset(distances[usable], curve[usable]).alpha)
        else:
            equal.append(float("nan"))
    return {"corrected": np.array(corrected), "equal": np.array(equal)}


def character_alphabet(texts: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Characters of each text as ids 0..V−1 (by code point order), concatenated with offsets.

    On characters V² ≪ N even for a small corpus, so the pair table is well sampled: how
    Ebeling–Pöschel and Lin–Tegmark measured two-point MI of text.
    """
    points = [np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32) for text in texts]
    offsets = np.concatenate(([0], np.cumsum([len(p) for p in points]))).astype(np.int64)
    alphabet, ids = np.unique(np.concatenate(points), return_inverse=True)
    return ids.astype(np.uint32), offsets, len(alphabet)


def truncate_documents(tokens: np.ndarray, offsets: np.ndarray, max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep at most ``max_tokens`` in all, as the same-length prefix of every document.

    A prefix of each document (not the first documents whole) keeps every author in a small run.
    """
    lengths = np.diff(offsets)
    if max_tokens <= 0 or lengths.sum() <= max_tokens:
        return tokens, offsets
    low, high = 0, int(lengths.max())  # largest per-document cap whose total fits the budget
    while low < high:
        cap = (low + high + 1) // 2
        low, high = (cap, high) if np.minimum(lengths, cap).sum() <= max_tokens else (low, cap - 1)
    kept = np.minimum(lengths, low)
    pieces = [tokens[s : s + k] for s, k in zip(offsets[:-1], kept)]
    return np.concatenate(pieces), np.concatenate(([0], np.cumsum(kept))).astype(np.int64)


def measure(
    tokens: np.ndarray,
    offsets: np.ndarray,
    vocab_size: int,
    key: dict,
    distances: tuple[int, ...] | np.ndarray = DEFAULT_DISTANCES,
    n_boot: int = 0,
    seed: int = 0,
    n_shuffle: int = 4,
    equal_boot: bool = True,
) -> dict[str, np.ndarray]:
    """Every curve chapter 02 draws for one corpus and alphabet, cached on disk under ``key``.

    ``key`` must identify the tokens (corpus checksum, alphabet, truncation); the distances,
    seed, bootstrap and shuffle counts and the code of this module, the entropy and the fits join it.
    Returns: distances, n_pairs, raw (Grassberger), raw_stderr, plugin, equal (every d subsampled
    to the same pair count), shuffled_within (each document shuffled: bias + between-document MI),
    shuffled_corpus and shuffled_corpus_sd (mean and spread of ``n_shuffle`` corpus-wide shuffles:
    bias alone), corrected and corrected_sigma (raw − shuffled_corpus, :func:`corrected_curve`),
    boot_alpha (α of the weighted fit to the corrected curve on document bootstrap replicates,
    shuffle redrawn each time) and boot_alpha_equal (offset-fit α of the equal-pairs curve;
    skipped, empty, without ``equal_boot``).
    """
    from . import cache, entropy, fit

    distances = np.asarray(distances, dtype=np.int64)
    if n_shuffle < 2:
        raise ValueError("n_shuffle must be at least 2: the baseline's spread is part of every error bar")

    def compute() -> dict[str, np.ndarray]:
        raw = two_point_mi(tokens, offsets, distances, vocab_size)
        equal = two_point_mi(tokens, offsets, distances, vocab_size, equal_pairs=True)
        within = two_point_mi(shuffle_within_documents(tokens, offsets, seed), offsets, distances, vocab_size)
        draws = np.array([two_point_mi(shuffle_across_corpus(tokens, offsets, seed + 1 + k), offsets, distances,
                                       vocab_size).mi for k in range(n_shuffle)])
        baseline, baseline_sd = draws.mean(axis=0), draws.std(axis=0, ddof=1)
        corrected, sigma = corrected_curve(raw.mi, raw.stderr, baseline, baseline_sd, n_shuffle)
        boot = (bootstrap_alpha(tokens, offsets, distances, n_boot, vocab_size, sigma, equal_boot, seed) if n_boot
                else {"corrected": np.zeros(0), "equal": np.zeros(0)})
        return {"distances": distances, "n_pairs": raw.n_pairs, "raw": raw.mi, "raw_stderr": raw.stderr,
                "plugin": raw.mi_plugin, "equal": equal.mi, "equal_n_pairs": equal.n_pairs,
                "shuffled_within": within.mi, "shuffled_corpus": baseline, "shuffled_corpus_sd": baseline_sd,
                "corrected": corrected, "corrected_sigma": sigma, "boot_alpha": boot["corrected"],
                "boot_alpha_equal": boot["equal"] if equal_boot else np.zeros(0)}

    full_key = {**key, "distances": distances.tolist(), "n_boot": n_boot, "seed": seed, "vocab_size": vocab_size,
                "n_shuffle": n_shuffle, "equal_boot": equal_boot}
    return cache.load_or_compute("twopoint", full_key, compute, [sys.modules[__name__], entropy, fit])


def repeated_token_documents(vocab: int, n_docs: int, length: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The counter-example of the paper's Sec. 4.4: each document is one uniform token repeated.

    Every pair of positions shares all information, I(d) = ln V at every distance, yet the
    bipartite MI is also only ln V at every split: two-point MI says nothing about how much
    a model must remember. Returns (documents (n_docs, length), flat offsets).
    """
    symbols = np.random.default_rng(seed).integers(0, vocab, n_docs)
    documents = np.repeat(symbols[:, None], length, axis=1).astype(np.uint32)
    return documents, np.arange(n_docs + 1, dtype=np.int64) * length


DISTANCE_CHOICES = tuple(2**k for k in range(1, 15))  # largest distance: 2 .. 16384


@dataclass(frozen=True)
class TwoPointChapter:
    """Parameters of chapter 02 (book/02_twopoint.ipynb)."""

    corpora: tuple = param(("books", "wiki"), subset_of(CORPORA,
                                                        "corpora to measure; pg19 and wikipedia need internet"))
    tokenizer: str = param("smollm2-135m", Rule(_nonempty_name, "a packaged tokenizer name or a local path"))
    max_distance: int = param(4096, one_of(DISTANCE_CHOICES, "largest distance d; d runs over powers of 2"))
    max_tokens: int = param(0, between(0, 10**10, "tokens kept per corpus, a prefix of every document; 0 keeps all"))
    top_k: int = param(63, between(1, 4095, "size of the coarse alphabet: the top_k tokens plus one other class"))
    n_boot: int = param(10, between(0, 1000, "bootstrap replicates over documents for alpha"))
    n_shuffle: int = param(4, between(2, 100, "corpus-wide shuffles averaged into the bias baseline"))
    seed: int = param(0, between(0, 2**32 - 1, "seed of the shuffle baselines and the bootstrap"))
    alpha_tolerance: float = param(0.15, between(0, 2, "claims: |alpha - paper| allowed beyond 2 bootstrap sd",
                                                  integer=False))
    min_r_squared: float = param(0.9, between(0, 1, "claims: weighted R² a power law must reach", integer=False))

    @property
    def distances(self) -> tuple[int, ...]:
        return tuple(2**k for k in range(self.max_distance.bit_length()))


PAPER_COUNTERPART = {"books": "pg19", "pg19": "pg19", "wiki": "wikipedia", "wikipedia": "wikipedia"}  # l2m.paper.TWO_POINT key


def bootstrap_sd(alphas: np.ndarray) -> float:
    """Standard deviation of bootstrap exponents (NaN with fewer than two replicates)."""
    alphas = np.asarray(alphas, dtype=float)
    return float(np.std(alphas, ddof=1)) if len(alphas) > 1 else float("nan")


def fit_summary(distances: np.ndarray, results: dict[str, dict[str, np.ndarray]]):
    """Both bias-corrected fits of every measured curve (from :func:`measure`), one row each.

    Rows indexed (measurement, method); columns A, alpha, alpha bootstrap sd, C, weighted R².
    """
    import pandas as pd

    distances = np.asarray(distances)
    rows = []
    for name, r in results.items():
        ok = np.isfinite(r["equal"])
        equal = fit_power_law_with_offset(distances[ok], r["equal"][ok])
        rows.append({"measurement": name, "method": "equal pairs, offset fit", "A": equal.amplitude,
                     "alpha": equal.alpha, "alpha bootstrap sd": bootstrap_sd(r["boot_alpha_equal"]), "C": equal.offset})
        plain = corrected_fit(distances, r["corrected"], r["corrected_sigma"])
        rows.append({"measurement": name, "method": "raw − corpus-wide shuffle, weighted fit", "A": plain.amplitude,
                     "alpha": -plain.exponent, "alpha bootstrap sd": bootstrap_sd(r["boot_alpha"]),
                     "weighted R²": plain.r_squared})
    return pd.DataFrame(rows).set_index(["measurement", "method"])
