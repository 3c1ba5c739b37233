"""Chapter 01's analysis of a bipartite-MI measurement: power-law fits, local slopes, tables.

I(L) ≈ A·L^β is fitted as ln I = ln A + β ln L on the window means, per split ratio, with a bootstrap over
windows (documents) for the uncertainty (paper Sec. 3, Fig. 2b). A small model cannot use far context, so its
I(L) bends as L grows (the paper's Appx. A: weaker models under-estimate β): :func:`local_slopes` shows
d ln I / d ln L along L, and :func:`fit_spans` halves the range. The paper's released fits regress against ℓ, not L
(:func:`on_split_axis` converts). Every bootstrap resamples windows through :func:`window_draws`, so estimates from
the same windows are resampled together (paired differences). :func:`law_comparison` sets the power law against a
logarithmic law, :func:`compressor_span` picks where a compressor's fit may start, :func:`nats_per_byte` compares
models with different tokenizers. The chapter's claims are in :mod:`l2m.hilberg_claims`; its parameters are
:class:`l2m.chapters.HilbergChapter`.
"""
from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np

from .bipartite import Measurement
from .fit import LawComparison, PowerLawFit, compare_power_log, fit_power_law

if TYPE_CHECKING:
    import pandas as pd


def window_draws(n_windows: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """(n_boot, n_windows) window indices, each row a bootstrap resample of the windows (documents).

    Every fit of one measurement draws the same rows for the same seed, so two estimates from the same windows
    (two estimators, two L ranges, two ratios) are resampled together: their difference in each replicate is
    the paired bootstrap difference.
    """
    rng = np.random.default_rng(seed)
    return np.array([rng.integers(0, n_windows, n_windows) for _ in range(n_boot)], dtype=int).reshape(n_boot, n_windows)


def bootstrap_fits(lengths: np.ndarray, per_window: np.ndarray, n_boot: int = 200,
                   seed: int = 0) -> tuple[PowerLawFit, np.ndarray]:
    """ln I = ln A + β ln L on the window means, and (A, β) on each bootstrap resample of :func:`window_draws`.

    Points whose mean is not positive are left out (a log needs I > 0). Returns the fit and an array
    (n_boot, 2), row b from resample b, NaN where that resample left fewer than two positive means.
    """
    mean = per_window.mean(axis=0)
    keep = mean > 0
    fit = fit_power_law(lengths[keep], mean[keep])
    boot = np.full((n_boot, 2), np.nan)
    for b, rows in enumerate(window_draws(len(per_window), n_boot, seed)):
        sample = per_window[rows].mean(axis=0)
        ok = keep & (sample > 0)
        if ok.sum() >= 2:
            f = fit_power_law(lengths[ok], sample[ok])
            boot[b] = f.amplitude, f.exponent
    return fit, boot


def fit_with_bootstrap(lengths: np.ndarray, per_window: np.ndarray, n_boot: int = 200,
                       seed: int = 0) -> tuple[PowerLawFit, np.ndarray]:
    """:func:`bootstrap_fits` without the resamples that had no fit: the fit and (A, β) of the others."""
    fit, boot = bootstrap_fits(lengths, per_window, n_boot, seed)
    return fit, boot[np.isfinite(boot[:, 1])]


def _columns(m: Measurement, ratio: int, span: tuple[int, int] | None) -> tuple[list[int], np.ndarray]:
    cols = [j for j, p in enumerate(m.plan.points)
            if p.ratio == ratio and (span is None or span[0] <= p.length <= span[1])]
    return cols, np.array([m.plan.points[j].length for j in cols], dtype=int)


def exponent_draws(m: Measurement, estimator: str, ratio: int, n_boot: int = 200, seed: int = 0,
                   span: tuple[int, int] | None = None) -> tuple[float, np.ndarray, float]:
    """(β, β of each bootstrap resample of :func:`window_draws` (NaN where none), R²) over the L in ``span``.

    The difference of two such arrays from one measurement is the paired bootstrap difference of the exponents
    (the estimates share windows); its sd is the sd of their difference, not hypot(sd_a, sd_b).
    """
    cols, lengths = _columns(m, ratio, span)
    if (m.per_window[estimator][:, cols].mean(axis=0) > 0).sum() < 2:
        return math.nan, np.full(n_boot, np.nan), math.nan
    fit, boot = bootstrap_fits(lengths, m.per_window[estimator][:, cols], n_boot, seed)
    return fit.exponent, boot[:, 1], fit.r_squared


def draw_sd(draws: np.ndarray) -> float:
    """Bootstrap standard deviation of the finite draws (NaN with fewer than two)."""
    draws = np.asarray(draws, dtype=float)
    draws = draws[np.isfinite(draws)]
    return float(draws.std(ddof=1)) if len(draws) > 1 else math.nan


def law_comparison(m: Measurement, estimator: str, ratio: int, n_boot: int = 200, seed: int = 0,
                   span: tuple[int, int] | None = None) -> tuple[LawComparison, np.ndarray, np.ndarray]:
    """Power law against logarithmic law on the window means (:func:`l2m.fit.compare_power_log`), each mean
    weighted by its bootstrap sd over windows; and ΔAIC = χ²_log − χ²_power on every bootstrap resample (same
    weights). Returns (comparison, ΔAIC of each resample, the per-L sd used as weights)."""
    cols, lengths = _columns(m, ratio, span)
    values = m.per_window[estimator][:, cols]
    draws = np.array([values[rows].mean(axis=0) for rows in window_draws(len(values), n_boot, seed)])
    sigma = draws.std(axis=0, ddof=1) if n_boot > 1 else np.full(len(cols), np.nan)
    comparison = compare_power_log(lengths, values.mean(axis=0), sigma)
    deltas = np.array([compare_power_log(lengths, d, sigma).delta_aic for d in draws])
    return comparison, deltas, sigma


def doubling_increase(m: Measurement, estimator: str, ratio: int) -> tuple[np.ndarray, np.ndarray]:
    """(L, I(L) − I(L/2)) along the measured L of one ratio: a logarithmic law adds the same b·ln 2 at every
    doubling, a power law A·L^β an increase that itself grows like L^β."""
    cols, lengths = _columns(m, ratio, None)
    mean = m.per_window[estimator][:, cols].mean(axis=0)
    return lengths[1:], np.diff(mean)


FIXED_COST_FACTOR = 10  # a compressor's fit starts where I ≥ this many times its value at the smallest L


def compressor_span(m: Measurement, estimator: str, ratio: int,
                    factor: float = FIXED_COST_FACTOR) -> tuple[int, int] | None:
    """The L range where a compressor's fixed cost no longer dominates its estimate (paper Appx. A.II).

    At the smallest L a compressor finds almost no repeat shared by X and Y, so what it reports there is its
    fixed cost (headers, the literal coding of a short text). The range starts at the first L whose mean is at
    least ``factor`` times that value, so the fixed cost is at most 1/factor of every fitted point (≤ 0.1 in
    ln I for 10), and runs to the largest L. None when fewer than three points qualify.
    """
    cols, lengths = _columns(m, ratio, None)
    mean = m.per_window[estimator][:, cols].mean(axis=0)
    floor = mean[0]
    above = np.flatnonzero((mean >= factor * floor) & (floor > 0))
    if len(above) == 0 or len(lengths) - above[0] < 3:
        return None
    return int(lengths[above[0]]), int(lengths[-1])


def nats_per_byte(scorers: dict, texts: list[str], n_boot: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
    """Each model's cross-entropy on the same texts in nats per UTF-8 byte: total −log q over every text (after
    BOS, in the model's own tokens) / total bytes. Models with different tokenizers compare per byte, not per
    token. Returns name -> array (n_boot + 1,): the value on all texts, then on each bootstrap resample of the
    texts (the same resamples for every model, so differences are paired)."""
    from .lm import score_cached
    from .packaged import tokenizer_name
    from .tokenizer import encode, load_tokenizer

    n_bytes = np.array([len(t.encode("utf-8")) for t in texts], dtype=float)
    draws = np.vstack([np.arange(len(texts)), window_draws(len(texts), n_boot, seed)])
    out = {}
    for name, scorer in scorers.items():
        ids = encode(load_tokenizer(tokenizer_name(name)), list(texts))
        nll = np.array([-float(np.sum(s)) for s in score_cached(scorer, [np.asarray(i) for i in ids], progress=False)])
        out[name] = nll[draws].sum(axis=1) / n_bytes[draws].sum(axis=1)
    return out


def window_texts(m: Measurement, tokens: int | None = None) -> list[str]:
    """The text of each window of ``m`` (its first ``tokens`` tokens), decoded with the model's tokenizer."""
    from .packaged import tokenizer_name
    from .tokenizer import load_tokenizer

    decode = load_tokenizer(tokenizer_name(m.model)).decode
    return [decode(list(map(int, w[:tokens]))) for w in m.plan.windows]


def fits_by_ratio(m: Measurement, estimator: str, n_boot: int = 200, seed: int = 0,
                  span: tuple[int, int] | None = None) -> dict[int, tuple[PowerLawFit, np.ndarray]]:
    """For each ratio, the power-law fit of ``estimator`` against L with its bootstrap (A, β); only the points
    with L in ``span`` = (smallest, largest) when given."""
    out = {}
    for ratio in sorted({p.ratio for p in m.plan.points}):
        cols = [j for j, p in enumerate(m.plan.points)
                if p.ratio == ratio and (span is None or span[0] <= p.length <= span[1])]
        lengths = np.array([m.plan.points[j].length for j in cols], dtype=int)
        if (m.per_window[estimator][:, cols].mean(axis=0) > 0).sum() >= 2:  # a log-log fit needs two I > 0
            out[ratio] = fit_with_bootstrap(lengths, m.per_window[estimator][:, cols], n_boot, seed)
    return out


def fit_spans(m: Measurement, ratio: int) -> dict[str, tuple[int, int]]:
    """The ranges of L the chapter fits apart: "short" and "long" halve the measured range on a log scale
    (sharing the middle point), "all" is the whole range."""
    lengths = sorted(p.length for p in m.plan.points if p.ratio == ratio)
    low, high = lengths[0], lengths[-1]
    middle = min(lengths, key=lambda n: abs(math.log(n) - (math.log(low) + math.log(high)) / 2))
    return {"short": (low, middle), "long": (middle, high), "all": (low, high)}


def span_table(m: Measurement, names: dict[str, str], ratio: int, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """β of each estimator fitted over each span of :func:`fit_spans`, with its bootstrap sd and R²."""
    import pandas as pd

    rows = []
    for name, label in names.items():
        for span_name, span in fit_spans(m, ratio).items():
            beta, sd, r2 = exponent(m, name, ratio, n_boot, seed, span)
            rows.append({"estimator": label, "range": span_name, "L from": span[0], "L to": span[1], "β": beta,
                         "β bootstrap sd": sd, "R²": r2})
    return pd.DataFrame(rows)


def local_slopes(m: Measurement, estimator: str, ratio: int, n_boot: int = 200, seed: int = 0,
                 width: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """d ln I / d ln L along L: the log-log slope over ``width`` neighbouring points, at their middle L.

    Returns (L, slope, bootstrap sd of the slope), resampling windows as :func:`fit_with_bootstrap` does; NaN
    where a mean in the neighbourhood is not positive. A power law has a constant local slope (its β); a
    model that stops gaining from far context has one that falls with L.
    """
    cols = [j for j, p in enumerate(m.plan.points) if p.ratio == ratio]
    lengths = np.log([m.plan.points[j].length for j in cols])
    values = m.per_window[estimator][:, cols]  # (windows, points)

    def slopes(mean: np.ndarray) -> np.ndarray:
        out = np.full(len(cols) - width + 1, np.nan)
        for k in range(len(out)):
            part = slice(k, k + width)
            if np.all(mean[part] > 0):
                out[k] = np.polyfit(lengths[part], np.log(mean[part]), 1)[0]
        return out

    rng = np.random.default_rng(seed)
    boot = np.array([slopes(values[rng.integers(0, len(values), len(values))].mean(axis=0)) for _ in range(n_boot)])
    centres = np.exp(np.array([lengths[k : k + width].mean() for k in range(len(cols) - width + 1)]))
    sd = np.nanstd(boot, axis=0, ddof=1) if n_boot > 1 else np.full(len(centres), np.nan)
    return centres, slopes(values.mean(axis=0)), sd


def on_split_axis(fit: PowerLawFit, ratio: int) -> PowerLawFit:
    """The same law against the split point ℓ = L/r: A·L^β = (A·r^β)·ℓ^β.

    The paper's released fits regress against ℓ (:data:`l2m.paper.BIPARTITE`, axis "ℓ"); the book fits
    against L. Exponents agree; amplitudes compare only on the same axis.
    """
    return dataclasses.replace(fit, amplitude=fit.amplitude * ratio**fit.exponent)


def ratio_curves(m: Measurement, names: dict[str, str], ratio: int, n_boot: int = 200, seed: int = 0,
                 span: tuple[int, int] | None = None):
    """What a scaling figure of one ratio shows: (L, {label: mean}, {label: sem}, {label: fit}), over the L in
    ``span`` (all when None).

    ``names`` maps estimator -> label; an estimator with fewer than two positive means has no fit.
    """
    cols = [j for j, p in enumerate(m.plan.points)
            if p.ratio == ratio and (span is None or span[0] <= p.length <= span[1])]
    lengths = np.array([m.plan.points[j].length for j in cols])
    series = {label: m.summary[name][cols] for name, label in names.items()}
    errors = {label: m.summary[f"{name}_sem"][cols] for name, label in names.items()}
    fits = {}
    for name, label in names.items():
        by_ratio = fits_by_ratio(m, name, n_boot, seed, span)
        if ratio in by_ratio:
            fits[label] = by_ratio[ratio][0]
    return lengths, series, errors, fits


def compare_curves(measurements: dict[str, Measurement], names: dict[str, str], ratio: int, n_boot: int = 200,
                   seed: int = 0, span: tuple[int, int] | None = None):
    """Several measurements in one scaling figure: (every L, {label: (L, mean)}, {label: sem}, {label: fit}), each
    label "<key>, <estimator label>", every fit over the L in ``span`` so that their exponents compare."""
    series, errors, fits = {}, {}, {}
    for key, m in measurements.items():
        lengths, s, e, f = ratio_curves(m, {n: f"{key}, {label}" for n, label in names.items() if n in m.per_window},
                                        ratio, n_boot, seed, span)
        series.update({label: (lengths, values) for label, values in s.items()})
        errors.update(e)
        fits.update(f)
    return np.unique(np.concatenate([x for x, _ in series.values()])), series, errors, fits


def fit_table(m: Measurement, names: dict[str, str], n_boot: int = 200, seed: int = 0,
              span: tuple[int, int] | None = None) -> pd.DataFrame:
    """One row per (estimator, ratio): the L range fitted, A against L, A against ℓ (the paper's axis), β, its
    bootstrap sd, R²."""
    import pandas as pd

    rows = []
    for name, label in names.items():
        for ratio, (f, boot) in fits_by_ratio(m, name, n_boot, seed, span).items():
            lengths = [p.length for p in m.plan.points
                       if p.ratio == ratio and (span is None or span[0] <= p.length <= span[1])]
            rows.append({"model": m.model, "corpus": m.corpus, "estimator": label, "L/ℓ": ratio,
                         "L range": f"{min(lengths)}–{max(lengths)}", "A (vs L)": f.amplitude,
                         "A (vs ℓ)": on_split_axis(f, ratio).amplitude, "β": f.exponent,
                         "β bootstrap sd": boot[:, 1].std(ddof=1) if len(boot) > 1 else np.nan, "R²": f.r_squared})
    return pd.DataFrame(rows, columns=["model", "corpus", "estimator", "L/ℓ", "L range", "A (vs L)", "A (vs ℓ)", "β",
                                       "β bootstrap sd", "R²"])


def exponent(m: Measurement, estimator: str, ratio: int, n_boot: int = 200, seed: int = 0,
             span: tuple[int, int] | None = None) -> tuple[float, float, float]:
    """(β, its bootstrap sd, R² of the log-log fit) of one estimator at one ratio, over the L in ``span`` (all
    when None); NaNs where there is no fit."""
    by_ratio = fits_by_ratio(m, estimator, n_boot, seed, span)
    if ratio not in by_ratio:
        return math.nan, math.nan, math.nan
    f, boot = by_ratio[ratio]
    return f.exponent, float(boot[:, 1].std(ddof=1)) if len(boot) > 1 else math.nan, f.r_squared


def compression_curves(m: Measurement, ratio: int, compressors: tuple[str, ...] = ("lzma", "zstd")):
    """What the compression figure shows: (L, {label: mean}, {label: sem}, {label: fit}, {label: span}).

    Each compressor is fitted over its own :func:`compressor_span` (no fit when it has none), vCLUB over lzma's
    span so that the two exponents compare on the same L.
    """
    names = {f"compression_{c}": c for c in compressors if f"compression_{c}" in m.per_window}
    lengths, series, errors, _ = ratio_curves(m, {**names, "vclub": "vCLUB"}, ratio, n_boot=0)  # the fits: below
    spans = {label: compressor_span(m, name, ratio) for name, label in names.items()}
    spans["vCLUB"] = spans.get("lzma")
    estimator = {**names, "vclub": "vCLUB"}
    fits = {}
    for name, label in estimator.items():
        if spans[label] is not None:
            fits.update(ratio_curves(m, {name: label}, ratio, 0, span=spans[label])[3])
    return lengths, series, errors, fits, spans
