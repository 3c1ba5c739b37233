"""Bipartite mutual information of text with a language model q (paper Sec. 3, eqs. 6–7, Appx. B).

A block W_{1:L} of one document is split into X = W_{1:ℓ} and Y = W_{ℓ+1:L}, with L = r·ℓ for
the split ratios r ∈ {2, 3, 4} and ℓ = 2, 4, 8, … . Three estimates of I(X; Y):

- direct: E[log q(Y|X) − log q(Y)]. Y usually starts mid-sentence, so the entropy of its
  first two tokens is corrected with corpus bigram statistics,
  H(Y1 Y2) ≈ (1/5)·H_q(Y1 Y2 | BOS) + (4/5)·Ĥ_G(bigrams of the corpus);
- vCLUB: E_{p(x,y)}[log q(y|x)] − E_{p(x)p(y)}[log q(y|x)], the second term scoring Y of one
  document after X of another, averaged over K random pairings;
- compression: C(X) + C(Y) − C(XY) with C the compressed length in nats (lzma, zstd).

The planner scores as little as possible. Every window is one block of ``max_len`` tokens; a
single causal pass over it gives log q(Y|X) for every ℓ and every ratio (Y's tokens are scored
with exactly their own X before them). The marginal log q(Y) needs one pass per ℓ, only as long
as the longest Y that starts at ℓ + 1 (its prefixes serve the smaller ratios); vCLUB one pass per
ℓ and pairing. Scores come from :func:`l2m.lm.score_cached`, so an interrupted run resumes.
"""
from __future__ import annotations

import lzma
import math
from dataclasses import dataclass

import numpy as np

from .corpus import CORPORA
from .entropy import grassberger_entropy_from_histogram
from .fit import PowerLawFit, fit_power_law
from .params import ParameterError, Rule, between, one_of, param, subset_of
from .twopoint import pair_count_histogram, pairs_at

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


def plan_points(max_len: int, ratios: tuple[int, ...] = RATIOS) -> list[Point]:
    """Every (r, ℓ) with ℓ = 2, 4, 8, … and r·ℓ ≤ max_len."""
    points = []
    for ratio in ratios:
        ell = MIN_ELL
        while ratio * ell <= max_len:
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


def make_windows(tokens: np.ndarray, offsets: np.ndarray, n_docs: int, max_len: int,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One block of ``max_len`` tokens from each of ``n_docs`` documents long enough, at a random start.

    Returns (windows (n, max_len), document indices). Raises when fewer documents are long enough.
    """
    lengths = np.diff(offsets)
    eligible = np.flatnonzero(lengths >= max_len)
    if len(eligible) < n_docs:
        raise ValueError(f"only {len(eligible)} documents have at least {max_len} tokens; asked for {n_docs}")
    rng = np.random.default_rng(seed)
    docs = np.sort(rng.choice(eligible, size=n_docs, replace=False))
    starts = offsets[docs] + rng.integers(0, lengths[docs] - max_len + 1)
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

    @property
    def forward_tokens(self) -> int:
        """Tokens through the model, BOS included."""
        return sum(len(s) + 1 for s in self.sequences)


def make_plan(windows: np.ndarray, points: list[Point], k_pairings: int = 1, seed: int = 0,
              vclub: bool = True) -> Plan:
    n, max_len = windows.shape
    reach = longest_ratio(points)
    pairings = derangements(n, k_pairings if vclub else 0, seed)
    sequences, index = [], {}

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
    return Plan(points, windows, pairings, sequences, index)


def paper_forward_tokens(n_windows: int, points: list[Point], window: int, vclub: bool = True) -> int:
    """Forward tokens of the paper's released plan for the same points: every split re-scores a
    full ``window``-token block for log q(Y|X) and for log q(Y) (and once more for vCLUB)."""
    passes = 3 if vclub else 2
    return n_windows * len(points) * passes * (window + 1)


def bigram_entropy(tokens: np.ndarray, offsets: np.ndarray, vocab_size: int) -> float:
    """Ĥ_G of consecutive token pairs inside documents: the corpus side of the 2-gram correction."""
    left, right = pairs_at(tokens, offsets, 1)
    return grassberger_entropy_from_histogram(*pair_count_histogram(left, right, vocab_size))[0]


def estimates(plan: Plan, scores: list[np.ndarray], h_bigram: float | None) -> dict[str, np.ndarray]:
    """Per-window estimates (n_windows, n_points) in nats: direct, direct_corrected, vclub."""
    n = len(plan.windows)
    shape = (n, len(plan.points))
    direct, corrected, club = np.zeros(shape), np.zeros(shape), np.full(shape, np.nan)
    for w in range(n):
        cond = scores[plan.index[("cond", w)]]
        for j, p in enumerate(plan.points):
            y = slice(p.ell, p.length)  # Y's tokens within the window
            log_q_y_given_x = cond[y].sum()
            marg = scores[plan.index[("marg", w, p.ell)]][: p.length - p.ell]
            first_two = marg[:2].sum()  # log q(Y1 Y2 | BOS)
            direct[w, j] = log_q_y_given_x - marg.sum()
            if h_bigram is not None:  # H(Y1Y2) ≈ (1/5)·H_q(Y1Y2|BOS) + (4/5)·Ĥ_G(bigrams)
                corrected[w, j] = log_q_y_given_x - marg[2:].sum() - 0.2 * first_two + 0.8 * h_bigram
            if len(plan.pairings):
                shuffled = [scores[plan.index[("club", k, w, p.ell)]][p.ell : p.length].sum()
                            for k in range(len(plan.pairings))]
                club[w, j] = log_q_y_given_x - np.mean(shuffled)
    out = {"direct": direct, "vclub": club}
    if h_bigram is not None:
        out["direct_corrected"] = corrected
    return out


def compression_estimates(plan: Plan, decode, compressors: tuple[str, ...] = ("lzma", "zstd")) -> dict[str, np.ndarray]:
    """C(X) + C(Y) − C(XY) − C(∅) in nats per window and point, on the decoded text of the block.

    C(∅) removes the one container header that the difference would otherwise count.
    """
    import zstandard

    codecs = {
        "lzma": lambda b: lzma.compress(b, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "preset": 9}]),
        "zstd": zstandard.ZstdCompressor(level=19, write_checksum=False, write_content_size=False).compress,
    }
    out = {}
    for name in compressors:
        compress = codecs[name]
        bits = lambda text: 8 * len(compress(text.encode("utf-8")))  # noqa: E731
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


def fit_with_bootstrap(lengths: np.ndarray, per_window: np.ndarray, n_boot: int = 200,
                       seed: int = 0) -> tuple[PowerLawFit, np.ndarray]:
    """ln I = ln A + β ln L on the window means, and (A, β) on bootstrap resamples of the windows.

    Points whose mean is not positive are left out of the fit (a log needs I > 0). Returns the fit
    and an array (n_boot, 2) of bootstrap (A, β).
    """
    mean = per_window.mean(axis=0)
    keep = mean > 0
    fit = fit_power_law(lengths[keep], mean[keep])
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        sample = per_window[rng.integers(0, len(per_window), len(per_window))].mean(axis=0)
        ok = keep & (sample > 0)
        if ok.sum() >= 2:
            f = fit_power_law(lengths[ok], sample[ok])
            boot.append((f.amplitude, f.exponent))
    return fit, np.array(boot).reshape(-1, 2)


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


def measure(scorer, corpus_name: str, n_docs: int, max_len: int, ratios: tuple[int, ...] = RATIOS,
            k_pairings: int = 1, seed: int = 0, vclub: bool = True, compression: bool = True) -> Measurement:
    """Score and estimate I(X; Y) for one scorer on one corpus (windows and pairings fixed by ``seed``).

    Raises before scoring anything if the corpus has fewer than ``n_docs`` documents of ``max_len`` tokens.
    """
    from .corpus import load_corpus, tokenize
    from .lm import score_cached, tokenizer_name

    corpus = load_corpus(corpus_name)
    token_array = tokenize(corpus, tokenizer_name(scorer.name))
    tokens, offsets = np.asarray(token_array.tokens), np.asarray(token_array.offsets)
    points = plan_points(max_len, ratios)
    try:
        windows, _ = make_windows(tokens, offsets, n_docs, max_len, seed)
    except ValueError as error:  # before any scoring: one line naming the parameters to change
        raise ParameterError(f"corpus {corpus_name!r} with {token_array.tokenizer_name}: {error}; "
                             f"lower n_docs or max_len") from None
    plan = make_plan(windows, points, k_pairings, seed, vclub)
    h_bigram = bigram_entropy(tokens, offsets, token_array.vocab_size)
    scores = score_cached(scorer, plan.sequences)
    per_window = estimates(plan, scores, h_bigram)
    if not vclub:
        per_window.pop("vclub")
    if compression:
        per_window.update(compression_estimates(plan, scorer.tokenizer.decode))
    first_two = np.mean([-scores[i][:2].sum() for key, i in plan.index.items() if key[0] == "marg"])
    by_position = -np.mean([scores[plan.index[("cond", w)]] for w in range(len(windows))], axis=0)
    return Measurement(scorer.name, corpus_name, plan, per_window, summarize(plan, per_window), h_bigram,
                       float(first_two), by_position)


def fits_by_ratio(m: Measurement, estimator: str, n_boot: int = 200, seed: int = 0) -> dict[int, tuple[PowerLawFit, np.ndarray]]:
    """For each ratio, the power-law fit of ``estimator`` against L with its bootstrap (A, β)."""
    out = {}
    for ratio in sorted({p.ratio for p in m.plan.points}):
        cols = [j for j, p in enumerate(m.plan.points) if p.ratio == ratio]
        lengths = np.array([m.plan.points[j].length for j in cols])
        if len(cols) >= 2:
            out[ratio] = fit_with_bootstrap(lengths, m.per_window[estimator][:, cols], n_boot, seed)
    return out


def check_model_name(value: object, allow_empty: bool = False) -> str:
    """A scoring model name that is here (packaged, a local folder or in the local Hugging Face cache); a Rule check."""
    from .lm import available

    if not isinstance(value, str) or (value == "" and not allow_empty) or (value and not available(value)):
        raise ValueError
    return value


MODEL_RULE = "a packaged model ('smollm2-135m', 'gemma3-270m'), a local folder or a Hugging Face id in the local cache"


@dataclass(frozen=True)
class HilbergChapter:
    """Parameters of chapter 01 (book/01_hilberg.ipynb)."""

    model: str = param("smollm2-135m", Rule(check_model_name, MODEL_RULE, "the scoring model"))
    second_model: str = param("gemma3-270m", Rule(lambda v: check_model_name(v, True), MODEL_RULE + ", or '' to skip",
                                                   "a second model, direct estimate only"))
    corpus: str = param("books", one_of(CORPORA, "corpus of the main measurement"))
    second_corpus: str = param("wiki", one_of(("", *CORPORA), "a second corpus, or '' to skip"))
    n_docs: int = param(32, between(2, 10**6, "windows of the main measurement, one per document"))
    second_n_docs: int = param(16, between(2, 10**6, "windows for the second model and the second corpus"))
    max_len: int = param(128, one_of(tuple(2**k for k in range(3, 15)), "largest block length L in tokens"))
    ratios: tuple = param(RATIOS, subset_of(RATIOS, "split ratios L/ell"))
    k_pairings: int = param(2, between(1, 64, "vCLUB: random pairings of X and Y averaged"))
    backend: str = param("transformers", one_of(("transformers", "vllm"), "scoring backend"))
    tensor_parallel: int = param(1, between(1, 64, "GPUs per model with vllm"))
    device: str = param("auto", one_of(("auto", "cpu", "cuda"), "where the model runs"))
    dtype: str = param("float32", one_of(("float32", "bfloat16", "float16"), "weights and activations"))
    n_boot: int = param(200, between(0, 100000, "bootstrap resamples of the windows for A and beta"))
    seed: int = param(0, between(0, 2**32 - 1, "seed of the windows and the vCLUB pairings"))

    def check(self) -> None:
        import importlib.util

        if self.backend == "vllm" and importlib.util.find_spec("vllm") is None:
            raise ValueError("backend = 'vllm' needs the package vllm (pip install -r requirements-gpu.txt on a GPU machine)")
        if self.max_len < MIN_ELL * min(self.ratios):
            raise ValueError(f"max_len = {self.max_len} leaves no split for ratios {self.ratios}")

    @property
    def resolved_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
