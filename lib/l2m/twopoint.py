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
    stderr: np.ndarray  # from the three entropies' standard errors, added in quadrature
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


def pair_count_histogram(left: np.ndarray, right: np.ndarray, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Histogram (values, multiplicities) of the counts of distinct (left, right) pairs."""
    if vocab_size * vocab_size <= DENSE_TABLE_LIMIT:
        table = np.bincount(left.astype(np.int64) * vocab_size + right, minlength=vocab_size * vocab_size)
        return count_histogram(table)
    dtype = np.uint32 if vocab_size * vocab_size < 2**32 else np.uint64
    codes = np.sort(left.astype(dtype) * dtype(vocab_size) + right.astype(dtype))
    boundaries = np.flatnonzero(codes[1:] != codes[:-1])  # last index of each run but the final one
    run_lengths = np.diff(np.concatenate(([-1], boundaries, [len(codes) - 1])))
    return count_histogram(run_lengths)


def two_point_at(
    tokens: np.ndarray, offsets: np.ndarray, d: int, vocab_size: int, span: int | None = None
) -> tuple[float, float, float, int]:
    """(Î_G, stderr, Î_plugin, pairs) at one distance (``span``: see :func:`pairs_at`)."""
    left, right = pairs_at(tokens, offsets, d, span)
    if len(left) < 2:
        return float("nan"), float("nan"), float("nan"), len(left)
    marginals = [count_histogram(np.bincount(side, minlength=vocab_size)) for side in (left, right)]
    joint = pair_count_histogram(left, right, vocab_size)
    (hx, sx), (hy, sy), (hxy, sxy) = (grassberger_entropy_from_histogram(*h) for h in (*marginals, joint))
    plugin = [plugin_entropy_from_histogram(*h) for h in (*marginals, joint)]
    return hx + hy - hxy, float(np.sqrt(sx**2 + sy**2 + sxy**2)), plugin[0] + plugin[1] - plugin[2], len(left)


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
    """A copy with each document's tokens randomly permuted: same unigram counts, no dependence.

    Its Î(d) is pure estimator bias (the true MI is 0 up to finite-document effects): a
    model-free check of the offset C of the fit.
    """
    rng = np.random.default_rng(seed)
    shuffled = np.array(tokens, copy=True)
    for start, end in zip(offsets[:-1], offsets[1:]):
        shuffled[start:end] = rng.permutation(shuffled[start:end])
    return shuffled


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


def bootstrap_alpha(
    tokens: np.ndarray,
    offsets: np.ndarray,
    distances: tuple[int, ...] | np.ndarray = DEFAULT_DISTANCES,
    n_boot: int = 20,
    vocab_size: int | None = None,
    equal_pairs: bool = False,
    seed: int = 0,
) -> np.ndarray:
    """α of the offset power-law fit on ``n_boot`` replicates with documents drawn with replacement.

    The spread of these α is the uncertainty from which documents happen to be in the corpus,
    which dominates the least-squares error of one fit.
    """
    from tqdm import tqdm

    from .fit import fit_power_law_with_offset

    rng = np.random.default_rng(seed)
    vocab_size = int(vocab_size or int(tokens.max()) + 1)
    alphas = []
    for _ in tqdm(range(n_boot), desc="bootstrap over documents", leave=False):
        sample_tokens, sample_offsets = resample_documents(tokens, offsets, rng)
        result = two_point_mi(sample_tokens, sample_offsets, distances, vocab_size, equal_pairs)
        usable = np.isfinite(result.mi) & (result.mi > 0)
        alphas.append(fit_power_law_with_offset(result.distances[usable], result.mi[usable]).alpha)
    return np.array(alphas)


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
) -> dict[str, np.ndarray]:
    """Every curve chapter 02 draws for one corpus and alphabet, cached on disk under ``key``.

    ``key`` must identify the tokens (corpus checksum, alphabet, truncation); the distances,
    seed, bootstrap size and the code of this module, the entropy and the fits join it.
    Returns: distances, n_pairs, raw (Grassberger), raw_stderr, plugin, equal (every d
    subsampled to the same pair count), shuffled (same counts on each document shuffled) and
    boot_alpha (offset-fit α of the equal-pairs curve on document bootstrap replicates).
    """
    from . import cache, entropy, fit

    distances = np.asarray(distances, dtype=np.int64)

    def compute() -> dict[str, np.ndarray]:
        raw = two_point_mi(tokens, offsets, distances, vocab_size)
        equal = two_point_mi(tokens, offsets, distances, vocab_size, equal_pairs=True)
        shuffled = two_point_mi(shuffle_within_documents(tokens, offsets, seed), offsets, distances, vocab_size)
        alphas = bootstrap_alpha(tokens, offsets, distances, n_boot, vocab_size, True, seed) if n_boot else np.zeros(0)
        return {"distances": distances, "n_pairs": raw.n_pairs, "raw": raw.mi, "raw_stderr": raw.stderr,
                "plugin": raw.mi_plugin, "equal": equal.mi, "equal_n_pairs": equal.n_pairs,
                "shuffled": shuffled.mi, "boot_alpha": alphas}

    full_key = {**key, "distances": distances.tolist(), "n_boot": n_boot, "seed": seed, "vocab_size": vocab_size}
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
    seed: int = param(0, between(0, 2**32 - 1, "seed of the shuffle baseline and the bootstrap"))

    @property
    def distances(self) -> tuple[int, ...]:
        return tuple(2**k for k in range(self.max_distance.bit_length()))
