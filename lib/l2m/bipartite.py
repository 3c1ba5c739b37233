"""Bipartite mutual information of text with a language model q (paper Sec. 3, eqs. 6–7, Appx. B).

A block W_{1:L} of one document is split into X = W_{1:ℓ} and Y = W_{ℓ+1:L}, with L = r·ℓ for
the split ratios r ∈ {2, 3, 4} and ℓ = 2, 4, 8, … . Three estimates of I(X; Y):

- direct: E[log q(Y|X) − log q(Y)]. Y usually starts mid-sentence, so the entropy of its
  first two tokens is corrected with corpus bigram statistics,
  H(Y1 Y2) ≈ (1/5)·H_q(Y1 Y2 | BOS) + (4/5)·Ĥ_G(bigrams of the corpus);
- vCLUB: E_{p(x,y)}[log q(y|x)] − E_{p(x)p(y)}[log q(y|x)], the second term scoring Y of one
  document after X of another, averaged over K random pairings;
- compression: C(X) + C(Y) − C(XY) with C the compressed length in nats (lzma, zstd).

Windows start at a sentence (pysbd's sentences, as the paper's samples do) or, as a control, at a
random token. The planner scores as little as possible. Every window is one block of ``max_len`` tokens; a
single causal pass over it gives log q(Y|X) for every ℓ and every ratio (Y's tokens are scored
with exactly their own X before them). The marginal log q(Y) needs one pass per ℓ, only as long
as the longest Y that starts at ℓ + 1 (its prefixes serve the smaller ratios); vCLUB one pass per
ℓ and pairing. Scores come from :func:`l2m.lm.score_cached`, so an interrupted run resumes. The
paper's released code scores more (:func:`official_forward_tokens`: about 3.3 times more at L = 2048) and
regresses its fits against ℓ, not L (:func:`on_split_axis` converts). The chapter's tables and claims
(:func:`fit_table`, :func:`chapter_claims`) are built here too; the chapter only calls them.
"""
from __future__ import annotations

import dataclasses
import lzma
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np

from . import paper
from .corpus import CORPORA
from .entropy import grassberger_entropy_from_histogram
from .fit import PowerLawFit, fit_power_law
from .params import ParameterError, Rule, between, one_of, param, subset_of
from .twopoint import pair_count_histogram, pairs_at

if TYPE_CHECKING:
    import pandas as pd

    from .tokenizer import TokenArray

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


def official_forward_tokens(max_len: int, splits: Iterable[int]) -> int:
    """Forward tokens per window of the paper's released scoring code (``compute_entropy_from_llm.py``).

    One full pass (L + 1 tokens with BOS) gives log q(Y|X); each split ℓ adds one spliced pass
    (L + 1, vCLUB) and one marginal pass (L + 1 − ℓ), shared by all ratios: 40,983 tokens at
    L = 2048, ℓ = 2, 4, …, 1024 (SPEC §7).
    """
    splits = list(splits)
    return (max_len + 1) * (1 + len(splits)) + sum(max_len + 1 - ell for ell in splits)


def on_split_axis(fit: PowerLawFit, ratio: int) -> PowerLawFit:
    """The same law against the split point ℓ = L/r: A·L^β = (A·r^β)·ℓ^β.

    The paper's released fits regress against ℓ (:data:`l2m.paper.BIPARTITE`, axis "ℓ"); the book fits
    against L. Exponents agree; amplitudes compare only on the same axis.
    """
    return dataclasses.replace(fit, amplitude=fit.amplitude * ratio**fit.exponent)


def bigram_entropy(tokens: np.ndarray, offsets: np.ndarray, vocab_size: int) -> float:
    """Ĥ_G of consecutive token pairs inside documents: the corpus side of the 2-gram correction."""
    left, right = pairs_at(tokens, offsets, 1)
    return grassberger_entropy_from_histogram(*pair_count_histogram(left, right, vocab_size))[0]


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
    window_start: str = "sentence"  # where the windows start: "sentence" or "random"


def corpus_windows(scorer, corpus_name: str, n_docs: int, max_len: int, seed: int = 0,
                   window_start: str = "sentence") -> tuple[np.ndarray, TokenArray]:
    """The windows of :func:`make_windows` on ``corpus_name`` in the scorer's own tokens, and the token array.

    Raises :class:`~l2m.params.ParameterError` before any scoring when the corpus is too small.
    """
    from .corpus import load_corpus
    from .lm import tokenizer_name
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
            window_start: str = "sentence") -> Measurement:
    """Score and estimate I(X; Y) for one scorer on one corpus (windows and pairings fixed by ``seed``).

    Raises before scoring anything if the corpus has fewer than ``n_docs`` documents of ``max_len`` tokens.
    """
    from .lm import score_cached

    windows, token_array = corpus_windows(scorer, corpus_name, n_docs, max_len, seed, window_start)
    tokens, offsets = np.asarray(token_array.tokens), np.asarray(token_array.offsets)
    plan = make_plan(windows, plan_points(max_len, ratios), k_pairings, seed, vclub)
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
                       float(first_two), by_position, window_start)


def window_costs(scorer, corpus_name: str, n_docs: int, max_len: int, seed: int = 0,
                 window_start: str = "sentence") -> np.ndarray:
    """Mean −log q(w_t | BOS, w_<t) over the windows, t = 1..max_len: one pass per window, nothing else.

    With the windows of :func:`measure` (same arguments) these passes are already in the score cache.
    """
    from .lm import score_cached

    windows, _ = corpus_windows(scorer, corpus_name, n_docs, max_len, seed, window_start)
    return -np.mean(score_cached(scorer, list(windows)), axis=0)


def fits_by_ratio(m: Measurement, estimator: str, n_boot: int = 200, seed: int = 0) -> dict[int, tuple[PowerLawFit, np.ndarray]]:
    """For each ratio, the power-law fit of ``estimator`` against L with its bootstrap (A, β)."""
    out = {}
    for ratio in sorted({p.ratio for p in m.plan.points}):
        cols = [j for j, p in enumerate(m.plan.points) if p.ratio == ratio]
        lengths = np.array([m.plan.points[j].length for j in cols])
        if (m.per_window[estimator][:, cols].mean(axis=0) > 0).sum() >= 2:  # a log-log fit needs two I > 0
            out[ratio] = fit_with_bootstrap(lengths, m.per_window[estimator][:, cols], n_boot, seed)
    return out


def ratio_curves(m: Measurement, names: dict[str, str], ratio: int, n_boot: int = 200, seed: int = 0):
    """What a scaling figure of one ratio shows: (L, {label: mean}, {label: sem}, {label: fit}).

    ``names`` maps estimator -> label; an estimator with fewer than two positive means has no fit.
    """
    cols = [j for j, p in enumerate(m.plan.points) if p.ratio == ratio]
    lengths = np.array([m.plan.points[j].length for j in cols])
    series = {label: m.summary[name][cols] for name, label in names.items()}
    errors = {label: m.summary[f"{name}_sem"][cols] for name, label in names.items()}
    fits = {}
    for name, label in names.items():
        by_ratio = fits_by_ratio(m, name, n_boot, seed)
        if ratio in by_ratio:
            fits[label] = by_ratio[ratio][0]
    return lengths, series, errors, fits


def fit_table(m: Measurement, names: dict[str, str], n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """One row per (estimator, ratio): A against L, A against ℓ (the paper's axis), β, its bootstrap sd, R²."""
    import pandas as pd

    rows = []
    for name, label in names.items():
        for ratio, (f, boot) in fits_by_ratio(m, name, n_boot, seed).items():
            rows.append({"model": m.model, "corpus": m.corpus, "estimator": label, "L/ℓ": ratio, "A (vs L)": f.amplitude,
                         "A (vs ℓ)": on_split_axis(f, ratio).amplitude, "β": f.exponent,
                         "β bootstrap sd": boot[:, 1].std(ddof=1) if len(boot) > 1 else np.nan, "R²": f.r_squared})
    return pd.DataFrame(rows, columns=["model", "corpus", "estimator", "L/ℓ", "A (vs L)", "A (vs ℓ)", "β",
                                       "β bootstrap sd", "R²"])


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
    window_start: str = param("sentence", one_of(WINDOW_STARTS, "where windows start (the paper: at a sentence)"))

    def check(self) -> None:
        import importlib.util

        if self.backend == "vllm" and importlib.util.find_spec("vllm") is None:
            raise ValueError("backend = 'vllm' needs the package vllm (pip install -r requirements-gpu.txt on a GPU machine)")
        if self.max_len < MIN_ELL * min(self.ratios):
            raise ValueError(f"max_len = {self.max_len} leaves no split for ratios {self.ratios}")

    def scorer(self, name: str):
        """The scorer of model ``name`` with this chapter's backend, device and dtype."""
        from .lm import make_scorer

        options = {"tensor_parallel_size": self.tensor_parallel} if self.backend == "vllm" else {}
        return make_scorer(name, self.backend, self.resolved_device, self.dtype, **options)

    @property
    def resolved_device(self) -> str:
        from .models import resolve_device  # torch only when a model is scored

        return resolve_device(self.device).type


def exponent(m: Measurement, estimator: str, ratio: int, n_boot: int = 200, seed: int = 0) -> tuple[float, float, float]:
    """(β, its bootstrap sd, R² of the log-log fit) of one estimator at one ratio; NaNs where there is no fit."""
    by_ratio = fits_by_ratio(m, estimator, n_boot, seed)
    if ratio not in by_ratio:
        return math.nan, math.nan, math.nan
    f, boot = by_ratio[ratio]
    return f.exponent, float(boot[:, 1].std(ddof=1)) if len(boot) > 1 else math.nan, f.r_squared


def _differ(a: tuple, b: tuple) -> float:
    """(β_a − β_b) in units of its bootstrap sd (NaN without one)."""
    return (a[0] - b[0]) / math.hypot(a[1], b[1])


def chapter_claims(cfg: "HilbergChapter", main: Measurement, models: dict[str, Measurement],
                   corpora: dict[str, Measurement]) -> list:
    """The claims table of chapter 01: each `holds` is a test on the measured exponents (2 bootstrap sd)."""
    from .claims import Claim

    ratio, vclub, direct = min(cfg.ratios), paper.BIPARTITE[("pg19", "vclub")], paper.BIPARTITE[("pg19", "direct")]
    ours = f"{main.model} on {main.corpus}, L ≤ {cfg.max_len}, {len(main.plan.windows)} windows"
    scale = (f"a {main.model} model, not LLaMA 3.1 405B; L ≤ {cfg.max_len}, not 2048; {main.corpus}, not PG19; "
             "exponents grow with the model (see below)")
    fmt = lambda e: f"β = {e[0]:.3f} ± {e[1]:.3f}" if np.isfinite(e[0]) else "no power-law fit (I ≤ 0)"
    v, d = exponent(main, "vclub", ratio, cfg.n_boot, cfg.seed), exponent(main, "direct_corrected", ratio, cfg.n_boot, cfg.seed)
    rows = [
        Claim("bipartite MI grows as a power law, I ≈ A·L^β with β > 0 (vCLUB)", vclub.label(), f"{fmt(v)}, R² = {v[2]:.3f}",
              bool(v[2] >= 0.9 and v[0] - 2 * v[1] > 0), f"holds if R² ≥ 0.9 and β > 2 sd; {ours}"),
        Claim("vCLUB exponent as the paper's (PG19)", f"β = {vclub.exponent:.2f}", fmt(v),
              bool(abs(v[0] - vclub.exponent) < 2 * v[1]), f"holds if within 2 sd; {scale}"),
        Claim("direct (2-gram corrected) exponent as the paper's (PG19)", f"β = {direct.exponent:.2f}", fmt(d),
              bool(abs(d[0] - direct.exponent) < 2 * d[1]),
              f"holds if within 2 sd; {scale}; the bigram table of a small corpus is undersampled"),
    ]
    by_ratio = {r: exponent(main, "vclub", r, cfg.n_boot, cfg.seed) for r in cfg.ratios}
    if len(by_ratio) > 1:
        spread = max(abs(_differ(a, b)) for a in by_ratio.values() for b in by_ratio.values() if a is not b)
        rows.append(Claim("the split ratios L/ℓ give the same exponent (vCLUB)", "one β for r = 2, 3, 4",
                          ", ".join(f"r = {r}: {e[0]:.3f} ± {e[1]:.3f}" for r, e in by_ratio.items()),
                          bool(spread < 2), "holds if every pair differs by < 2 sd; few points per ratio at small L"))
    for name, m in models.items():
        if name != main.model:
            other = exponent(m, "direct_corrected", ratio, cfg.n_boot, cfg.seed)
            rows.append(Claim("a better model finds a larger exponent: the estimates bound β from below",
                              "larger LLaMA, larger β (Appx. A)", f"{name}: {fmt(other)}; {main.model}: {fmt(d)}",
                              bool(_differ(other, d) > 2), f"holds if larger by > 2 sd; two small models, "
                              f"{len(m.plan.windows)} windows, each model's own tokens; a larger vocabulary "
                              "undersamples the bigram table more, and the 2-gram correction then steepens β"))
    for name, m in corpora.items():
        if name != main.corpus:
            other, wiki = exponent(m, "vclub", ratio, cfg.n_boot, cfg.seed), paper.BIPARTITE[("wikipedia", "vclub")]
            rows.append(Claim("Wikipedia's exponent is smaller than PG19's (vCLUB)",
                              f"β = {wiki.exponent:.2f} < {vclub.exponent:.2f}", f"{name}: {fmt(other)}; {main.corpus}: {fmt(v)}",
                              bool(_differ(v, other) > 2), f"holds if smaller by > 2 sd; {len(m.plan.windows)} windows "
                              f"of {name}"))
    if "compression_lzma" in main.per_window:
        c = exponent(main, "compression_lzma", ratio, cfg.n_boot, cfg.seed)
        rows.append(Claim("compression estimates give a larger exponent than the LM (biased upward)",
                          f"β ≈ {paper.COMPRESSION_BETA:.1f}", f"lzma: {fmt(c)}; vCLUB: {fmt(v)}",
                          bool(_differ(c, v) > 2), "holds if larger by > 2 sd; a compressor's fixed costs dominate "
                          "at small L"))
    return rows
