"""How two-point MI decays with distance: the three differences of chapter 02's curves, their errors, and their fits.

:func:`l2m.twopoint.measure` gives, for one corpus and alphabet, the raw estimate Î(d) and two shuffle
baselines, each also on document-bootstrap replicates. Their differences measure different things:

- raw − within-document shuffle: the **order-dependent** MI. The within-document shuffle keeps every
  document's own unigram law and removes only the order, so what it takes away is the MI that comes from
  where tokens stand (plus the estimator's bias, nearly the same for both: same documents, same marginals);
- within-document − corpus-wide shuffle: the **between-document** (topic) MI, two tokens of one document
  sharing which document they came from, a constant in d, *provided* the estimator's bias is the same for
  both shuffles. A bias depends on how the joint counts spread over the pair table, not only on N and the
  marginals: where the pairs at a distance come from a few long documents, the in-document pairs spread
  over fewer cells than pairs of corpus-wide tokens, and the difference can go negative;
- raw − corpus-wide shuffle: the sum of both, order-dependent plus between-document, which therefore
  does not fall to zero but to a plateau. The paper's fit A·d^−α + C (Appx. B, eq. B.15) absorbs the
  plateau (and on the raw curve the bias) in C.

Each difference's per-point error is document-level (clustered): the spread of the same difference over
bootstrap replicates that draw whole documents, never below the first-order error of independent pairs.
The models are A·d^−α + C (the paper's form) and A·d^−α, fitted in linear space weighted by those errors,
so points near zero or below it count as much as their error says; a model *fits* when every residual is
within :data:`FIT_SIGMA` errors.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import scipy.optimize
import scipy.stats

FIT_SIGMA = 3.0  # a correct model leaves all 13 residuals within 3σ with probability 0.9973**13 ≈ 0.965
DIFFERENCES = {  # name: (minuend, subtrahend, what the difference measures), curves of twopoint.measure
    "order": ("raw", "shuffled_within", "raw − within-document shuffle: order-dependent MI"),
    "between": ("shuffled_within", "shuffled_corpus", "within-document − corpus-wide shuffle: between-document MI"),
    "corrected": ("raw", "shuffled_corpus", "raw − corpus-wide shuffle: order-dependent + between-document MI"),
}
BOOT = {"raw": "boot_raw", "shuffled_within": "boot_within", "shuffled_corpus": "boot_corpus"}
PAPER_COUNTERPART = {"books": "pg19", "pg19": "pg19", "wiki": "wikipedia", "wikipedia": "wikipedia"}  # paper.TWO_POINT


@dataclass(frozen=True)
class Difference:
    """One difference of two curves at every d, its document-level error, and its bootstrap replicates."""

    value: np.ndarray  # (n_d,) nats
    sigma: np.ndarray  # (n_d,) document-level standard error
    replicates: np.ndarray  # (n_boot, n_d) the same difference on each replicate


def pair_sigma(r: dict[str, np.ndarray]) -> np.ndarray:
    """First-order error of a difference of the raw curve and a shuffle: the raw estimate's error with its
    pairs taken as independent, and one shuffle's spread (measured over the corpus-wide shuffles)."""
    return np.sqrt(r["raw_stderr"] ** 2 + r["shuffled_corpus_sd"] ** 2)


def difference(r: dict[str, np.ndarray], name: str) -> Difference:
    """One of :data:`DIFFERENCES` of a :func:`l2m.twopoint.measure` result, with its document-level error.

    The error is the standard deviation over the bootstrap replicates (each replicate the same draw of
    documents for both curves), never below :func:`pair_sigma` (with fewer than two replicates it is that).
    The within-document shuffle is one draw, the same in every replicate, so its own shuffle noise (one
    corpus-wide shuffle's spread) is added to the errors of the differences that use it.
    """
    plus, minus, _ = DIFFERENCES[name]
    value = np.asarray(r[plus] - r[minus], dtype=float)
    replicates = np.asarray(r[BOOT[plus]] - r[BOOT[minus]], dtype=float)
    floor = pair_sigma(r)
    if len(replicates) >= 2:
        finite = np.isfinite(replicates)
        spread = np.full(len(value), np.nan)
        seen = finite.sum(axis=0) >= 2  # a distance no replicate reaches has no spread (nor a value)
        spread[seen] = np.nanstd(replicates[:, seen], axis=0, ddof=1)
        if "shuffled_within" in (plus, minus):
            spread = np.sqrt(spread**2 + r["shuffled_corpus_sd"] ** 2)
        sigma = np.fmax(spread, floor)
    else:
        sigma = floor
    return Difference(value, sigma, replicates)


@dataclass(frozen=True)
class DecayFit:
    """I(d) ≈ amplitude · d^−alpha + offset fitted to a difference, with its residuals in σ."""

    amplitude: float
    alpha: float
    offset: float  # 0 (not fitted) for the plain power law
    alpha_stderr: float  # least-squares error of α with σ taken as absolute
    residuals: np.ndarray  # (y − model) / σ at every d, NaN where the point is missing
    with_offset: bool

    def __call__(self, d: np.ndarray) -> np.ndarray:
        return self.amplitude * np.asarray(d, dtype=float) ** (-self.alpha) + self.offset

    @property
    def max_residual(self) -> float:
        z = self.residuals[np.isfinite(self.residuals)]
        return float(np.abs(z).max()) if len(z) else float("nan")

    @property
    def fits(self) -> bool:
        """Every residual within :data:`FIT_SIGMA` errors."""
        return bool(self.max_residual <= FIT_SIGMA)

    @property
    def chi2_per_dof(self) -> float:
        z = self.residuals[np.isfinite(self.residuals)]
        dof = len(z) - (3 if self.with_offset else 2)
        return float(np.sum(z**2) / dof) if dof > 0 else float("nan")

    def label(self, var: str = "d") -> str:
        tail = f" + {self.offset:.3f}" if self.with_offset else ""
        return f"{self.amplitude:.3g}·{var}^−{self.alpha:.3f}{tail}"


def _model(theta: np.ndarray, log_d: np.ndarray) -> np.ndarray:
    return np.exp(theta[0] - theta[1] * log_d) + (theta[2] if len(theta) > 2 else 0.0)


def fit_decay(d: np.ndarray, y: np.ndarray, sigma: np.ndarray, offset: bool = True,
              start: DecayFit | None = None) -> DecayFit:
    """Weighted least squares of y ≈ A·d^−α (+ C) in linear space, each point weighted by 1/σ² (finite points only).

    Starts from ``start`` when given (a replicate starts from the fit of the whole corpus), else from
    several guesses of C (the last point, zero, the smallest point) with α from a log–log fit of what is
    left above it, and keeps the best. NaN parameters when there are no more points than parameters.
    """
    d, y, sigma = (np.asarray(a, dtype=float) for a in (d, y, sigma))
    ok = np.isfinite(y) & np.isfinite(sigma) & (sigma > 0)
    n_par = 3 if offset else 2
    if ok.sum() <= n_par:
        return DecayFit(*(float("nan"),) * 4, np.full(len(d), np.nan), offset)
    log_d, yy, ss = np.log(d[ok]), y[ok], sigma[ok]

    def residuals(theta: np.ndarray) -> np.ndarray:
        return (_model(theta, log_d) - yy) / ss

    starts = []
    if start is not None and math.isfinite(start.alpha):
        starts.append([math.log(start.amplitude), start.alpha, start.offset][:n_par])
    for c in ((yy[-1], 0.0, yy.min()) if offset else (0.0,)):
        above = yy - c
        clear = above > 2 * ss
        if clear.sum() >= 2:
            slope, intercept = np.polyfit(log_d[clear], np.log(above[clear]), 1)
            starts.append([intercept, -slope, c][:n_par])
        else:
            starts.append([math.log(max(float(yy.max()), 1e-12)), 1.0, c][:n_par])
    best = None
    for theta0 in starts:
        try:
            result = scipy.optimize.least_squares(residuals, theta0, method="lm")
        except (ValueError, FloatingPointError):
            continue
        if best is None or result.cost < best.cost:
            best = result
    theta = best.x
    try:
        stderr = float(np.sqrt(np.linalg.inv(best.jac.T @ best.jac)[1, 1]))
    except np.linalg.LinAlgError:
        stderr = float("nan")
    z = np.full(len(d), np.nan)
    z[ok] = -best.fun  # (y − model) / σ
    return DecayFit(float(math.exp(theta[0])), float(theta[1]), float(theta[2]) if offset else 0.0, stderr, z, offset)


def flat_residual(y: np.ndarray, sigma: np.ndarray) -> float:
    """Largest |y − ȳ|/σ about the weighted mean: a curve that does not decay at all leaves it within FIT_SIGMA."""
    ok = np.isfinite(y) & np.isfinite(sigma) & (sigma > 0)
    if not ok.any():
        return float("nan")
    w = 1 / sigma[ok] ** 2
    return float(np.max(np.abs(y[ok] - (w @ y[ok]) / w.sum()) / sigma[ok]))


def replicate_fits(d: np.ndarray, diff: Difference, whole: DecayFit) -> list[DecayFit]:
    """The same model refitted to each bootstrap replicate of ``diff`` (same σ, starting from ``whole``)."""
    return [fit_decay(d, rep, diff.sigma, whole.with_offset, start=whole) for rep in diff.replicates]


def bootstrap_sd(values: np.ndarray) -> float:
    """Standard deviation of bootstrap values (NaN with fewer than two finite replicates)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")


@dataclass(frozen=True)
class ModelResult:
    """One model fitted to one difference of one measurement, with its replicates."""

    difference: str  # key of DIFFERENCES
    fit: DecayFit
    alphas: np.ndarray  # α on each bootstrap replicate
    flat: float = float("inf")  # largest residual of a constant (no decay at all), in σ: flat_residual
    d_min: int = 1  # the fit uses the distances d ≥ d_min

    @property
    def alpha_sd(self) -> float:
        return bootstrap_sd(self.alphas)


MODELS = {"offset": ("corrected", True), "order": ("order", False)}  # model: (difference, with offset C)
RANGE_STARTS = (2, 4, 8, 16, 32, 64)  # smallest distance of the "range" model, tried in this order
MIN_POINTS = 6  # a range keeps at least this many distances (three parameters' worth twice over)


def _fit_model(d: np.ndarray, diff: Difference, offset: bool, keep: np.ndarray, d_min: int) -> ModelResult:
    """One model fitted to ``diff`` at the distances ``keep``; residuals NaN elsewhere."""
    part = Difference(diff.value[keep], diff.sigma[keep], diff.replicates[:, keep])
    whole = fit_decay(d[keep], part.value, part.sigma, offset)
    residuals = np.full(len(d), np.nan)
    residuals[keep] = whole.residuals
    alphas = np.array([f.alpha for f in replicate_fits(d[keep], part, whole)])
    return ModelResult("", replace(whole, residuals=residuals), alphas, flat_residual(part.value, part.sigma), d_min)


def fit_models(d: np.ndarray, r: dict[str, np.ndarray]) -> dict[str, ModelResult]:
    """The models of one measurement: "offset", A·d^−α + C on raw − corpus-wide shuffle (C: the between-document
    MI); "order", A·d^−α on raw − within-document shuffle (the order-dependent MI alone) at every d; "range", the
    same from the smallest d_min of :data:`RANGE_STARTS` from which it fits every point (the last one tried,
    keeping :data:`MIN_POINTS` distances, where none does)."""
    d = np.asarray(d, dtype=float)
    out = {}
    for model, (name, offset) in MODELS.items():
        out[model] = replace(_fit_model(d, difference(r, name), offset, np.ones(len(d), bool), 1), difference=name)
    order = difference(r, "order")
    ranged = None
    for lo in RANGE_STARTS:
        keep = d >= lo
        if np.isfinite(order.value[keep]).sum() < MIN_POINTS:
            break
        ranged = replace(_fit_model(d, order, False, keep, lo), difference="order")
        if ranged.fit.fits:
            break
    if ranged is not None:
        out["range"] = ranged
    return out


def chosen(models: dict[str, ModelResult]) -> tuple[str, ModelResult]:
    """The model whose α the chapter states: the order-dependent MI over every d where a power law fits it, else
    over the range from which it does, else the paper's form A·d^−α + C (whose errors carry the between-document
    MI's variation from document to document, common to every d, so it fits more easily), else the model with the
    smallest largest residual."""
    for name in ("order", "range", "offset"):
        if name in models and models[name].fit.fits:
            return name, models[name]
    name = min(models, key=lambda m: models[m].fit.max_residual)
    return name, models[name]


def summary(models: dict[str, dict[str, ModelResult]]):
    """Both models of every measurement (from :func:`fit_models`), one row each: A, α, its bootstrap sd and
    least-squares error, C, the largest residual in σ, χ² per degree of freedom, whether the model fits, whether
    a constant alone would (no decay), and which model the chapter states (:func:`chosen`)."""
    import pandas as pd

    rows = []
    for label, by_model in models.items():
        stated, _ = chosen(by_model)
        for name, m in by_model.items():
            rows.append({"measurement": label, "model": name, "difference": DIFFERENCES[m.difference][2].split(":")[0],
                         "from d": m.d_min,
                         "A": m.fit.amplitude, "alpha": m.fit.alpha, "alpha bootstrap sd": m.alpha_sd,
                         "alpha fit error": m.fit.alpha_stderr, "C": m.fit.offset if m.fit.with_offset else np.nan,
                         "max |residual| (σ)": m.fit.max_residual, "χ²/dof": m.fit.chi2_per_dof,
                         "fits": m.fit.fits, "constant fits": m.flat <= FIT_SIGMA, "stated": name == stated})
    return pd.DataFrame(rows).set_index(["measurement", "model"])


def residual_table(d: np.ndarray, models: dict[str, dict[str, ModelResult]]):
    """Residuals (y − model)/σ of each measurement's stated model at every d, one column per measurement."""
    import pandas as pd

    return pd.DataFrame({f"{label} ({chosen(m)[0]})": chosen(m)[1].fit.residuals for label, m in models.items()},
                        index=pd.Index(np.asarray(d), name="d"))


def negative_points(d: np.ndarray, diff: Difference, n_sigma: float = 2.0) -> np.ndarray:
    """The distances where ``diff`` lies more than ``n_sigma`` errors below zero."""
    return np.asarray(d)[np.asarray(diff.value < -n_sigma * diff.sigma)]


def chi2_p(fit: DecayFit) -> float:
    """Probability of a χ² at least this large for a correct model with these errors."""
    z = fit.residuals[np.isfinite(fit.residuals)]
    dof = len(z) - (3 if fit.with_offset else 2)
    return float(scipy.stats.chi2.sf(np.sum(z**2), dof)) if dof > 0 else float("nan")
