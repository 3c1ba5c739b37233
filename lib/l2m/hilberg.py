"""Chapter 01's analysis of a bipartite-MI measurement: power-law fits, local slopes, tables, claims.

I(L) ≈ A·L^β is fitted as ln I = ln A + β ln L on the window means, per split ratio, with a bootstrap over
windows (documents) for the uncertainty (paper Sec. 3, Fig. 2b). A small model cannot use far context, so its
I(L) bends as L grows (the paper's Appx. A: weaker models under-estimate β): :func:`local_slopes` shows
d ln I / d ln L along L, and :func:`range_fits` fits the short and the long half of the range apart. The paper's
released fits regress against ℓ, not L (:func:`on_split_axis` converts). The chapter's claims
(:func:`chapter_claims`) are here too; its parameters are :class:`l2m.chapters.HilbergChapter`.
"""
from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np

from . import paper
from .bipartite import Measurement
from .fit import PowerLawFit, fit_power_law

if TYPE_CHECKING:
    import pandas as pd

    from .chapters import HilbergChapter

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


def _differ(a: tuple, b: tuple) -> float:
    """(β_a − β_b) in units of its bootstrap sd (NaN without one)."""
    return (a[0] - b[0]) / math.hypot(a[1], b[1])


def chapter_claims(cfg: HilbergChapter, main: Measurement, models: dict[str, Measurement],
                   corpora: dict[str, Measurement]) -> list:
    """The claims table of chapter 01: each `holds` is a test on the measured exponents (2 bootstrap sd).

    The paper's exponents are compared with the long-range fit (:func:`fit_spans`), where the bend of a small
    model shows; comparisons between measurements use the L range they share.
    """
    from .claims import Claim

    ratio, vclub, direct = min(cfg.ratios), paper.BIPARTITE[("pg19", "vclub")], paper.BIPARTITE[("pg19", "direct")]
    spans = fit_spans(main, ratio)
    long = spans["long"]
    ours = f"{main.model} on {main.corpus}, L = {spans['all'][0]}–{spans['all'][1]}, {len(main.plan.windows)} windows"
    scale = (f"a {main.model} model, not LLaMA 3.1 405B; {main.corpus}, not PG19; exponents grow with the model "
             "(see below)")
    fmt = lambda e: f"β = {e[0]:.3f} ± {e[1]:.3f}" if np.isfinite(e[0]) else "no power-law fit (I ≤ 0)"
    beta = lambda m, name, span=None: exponent(m, name, ratio, cfg.n_boot, cfg.seed, span)
    v, v_long, v_short = beta(main, "vclub"), beta(main, "vclub", long), beta(main, "vclub", spans["short"])
    d_long = beta(main, "direct_corrected", long)
    rows = [
        Claim("bipartite MI grows as a power law, I ≈ A·L^β with β > 0 (vCLUB)", vclub.label(), f"{fmt(v)}, R² = {v[2]:.3f}",
              bool(v[2] >= 0.9 and v[0] - 2 * v[1] > 0), f"holds if R² ≥ 0.9 and β > 2 sd; {ours}"),
        Claim("vCLUB exponent as the paper's (PG19), long range", f"β = {vclub.exponent:.2f} (L ≤ 2048)",
              f"L = {long[0]}–{long[1]}: {fmt(v_long)}", bool(abs(v_long[0] - vclub.exponent) < 2 * v_long[1]),
              f"holds if within 2 sd; {scale}"),
        Claim("direct (2-gram corrected) exponent as the paper's (PG19), long range",
              f"β = {direct.exponent:.2f} (L ≤ 2048)", f"L = {long[0]}–{long[1]}: {fmt(d_long)}",
              bool(abs(d_long[0] - direct.exponent) < 2 * d_long[1]),
              f"holds if within 2 sd; {scale}; the bigram table of a small corpus is undersampled"),
        Claim("a small model's I(L) bends: it gains less from far context (vCLUB, long range below short range)",
              "weaker models under-estimate β (Appx. A)",
              f"L = {spans['short'][0]}–{spans['short'][1]}: {fmt(v_short)}; L = {long[0]}–{long[1]}: {fmt(v_long)}",
              bool(_differ(v_short, v_long) > 2), "holds if smaller by > 2 sd; the paper's 405B model fits one power law up to L = 2048"),
    ]
    others = [p.length for p in main.plan.points if p.ratio != ratio]  # the other ratios stop at their own max_len
    shared = (0, max(others) if others else spans["all"][1])
    by_ratio = {r: exponent(main, "vclub", r, cfg.n_boot, cfg.seed, shared) for r in cfg.ratios}
    if len(by_ratio) > 1:
        spread = max(abs(_differ(a, b)) for a in by_ratio.values() for b in by_ratio.values() if a is not b)
        rows.append(Claim("the split ratios L/ℓ give the same exponent (vCLUB)", "one β for r = 2, 3, 4",
                          ", ".join(f"r = {r}: {e[0]:.3f} ± {e[1]:.3f}" for r, e in by_ratio.items()),
                          bool(spread < 2), f"holds if every pair differs by < 2 sd; all ratios over L ≤ {shared[1]}"))
    for name, m in models.items():
        if name != main.model:
            upto = (0, max(p.length for p in m.plan.points))
            other, ours_d = beta(m, "direct_corrected", upto), beta(main, "direct_corrected", upto)
            rows.append(Claim("a better model finds a larger exponent: the estimates bound β from below",
                              "larger LLaMA, larger β (Appx. A)", f"{name}: {fmt(other)}; {main.model}: {fmt(ours_d)}",
                              bool(_differ(other, ours_d) > 2), f"holds if larger by > 2 sd; both over L ≤ {upto[1]}; "
                              f"two small models, {len(m.plan.windows)} windows, each model's own tokens; a larger "
                              "vocabulary undersamples the bigram table more, and the 2-gram correction then steepens β"))
    for name, m in corpora.items():
        if name != main.corpus:
            upto = (0, max(p.length for p in m.plan.points))
            other, ours_v = beta(m, "vclub", upto), beta(main, "vclub", upto)
            wiki = paper.BIPARTITE[("wikipedia", "vclub")]
            rows.append(Claim("Wikipedia's exponent is smaller than PG19's (vCLUB)",
                              f"β = {wiki.exponent:.2f} < {vclub.exponent:.2f}", f"{name}: {fmt(other)}; {main.corpus}: {fmt(ours_v)}",
                              bool(_differ(ours_v, other) > 2), f"holds if smaller by > 2 sd; both over L ≤ {upto[1]}; "
                              f"{len(m.plan.windows)} windows of {name}"))
    if "compression_lzma" in main.per_window:
        c = beta(main, "compression_lzma")
        rows.append(Claim("compression estimates give a larger exponent than the LM (biased upward)",
                          f"β ≈ {paper.COMPRESSION_BETA:.1f}", f"lzma: {fmt(c)}; vCLUB: {fmt(v)}",
                          bool(_differ(c, v) > 2), "holds if larger by > 2 sd; a compressor's fixed costs dominate "
                          "at small L"))
    return rows
