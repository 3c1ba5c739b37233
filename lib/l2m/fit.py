"""Scaling-law fits shared by the chapters.

The paper fits every scaling law as a straight line in log–log space (ln I = ln A + β ln L,
Sec. 3 and Appx. B); a logarithmic law I = a + b ln L is a straight line in semi-log space.
Both are ordinary least squares, done by scipy.stats.linregress, which also gives the
standard errors of intercept and slope. The two-point MI adds a constant estimator bias C,
fitted as ln(I − C) = ln A − α ln d (Appx. B). A noisy difference that may cross zero (raw
minus a shuffle baseline, chapter 02) is fitted in linear space with weights instead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.optimize
import scipy.stats


@dataclass(frozen=True)
class PowerLawFit:
    """I(x) ≈ amplitude · x**exponent, fitted in log–log space."""

    amplitude: float
    exponent: float
    exponent_stderr: float  # least-squares standard error of the slope (not a bootstrap)
    r_squared: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.amplitude * np.asarray(x, dtype=float) ** self.exponent

    def label(self, var: str = "L") -> str:
        return f"{self.amplitude:.3g}·{var}^{self.exponent:.3f}"


@dataclass(frozen=True)
class LogLawFit:
    """I(x) ≈ offset + slope · ln x, fitted in semi-log space."""

    offset: float
    slope: float
    slope_stderr: float
    r_squared: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.offset + self.slope * np.log(np.asarray(x, dtype=float))

    def label(self, var: str = "L") -> str:
        return f"{self.offset:.3g} + {self.slope:.3g}·ln {var}"


def _positive(x: np.ndarray, y: np.ndarray, need_y: bool) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError("a fit needs two 1-d arrays of equal length, at least 2 points")
    if np.any(x <= 0) or (need_y and np.any(y <= 0)):
        raise ValueError("a logarithmic fit needs positive values")
    return x, y


def fit_power_law(x: np.ndarray, y: np.ndarray) -> PowerLawFit:
    """Least squares of ln y = ln A + β ln x."""
    x, y = _positive(x, y, need_y=True)
    result = scipy.stats.linregress(np.log(x), np.log(y))
    stderr = float(result.stderr) if len(x) > 2 else float("nan")
    return PowerLawFit(float(np.exp(result.intercept)), float(result.slope), stderr, float(result.rvalue**2))


def fit_log_law(x: np.ndarray, y: np.ndarray) -> LogLawFit:
    """Least squares of y = a + b ln x."""
    x, y = _positive(x, y, need_y=False)
    result = scipy.stats.linregress(np.log(x), y)
    stderr = float(result.stderr) if len(x) > 2 else float("nan")
    return LogLawFit(float(result.intercept), float(result.slope), stderr, float(result.rvalue**2))


class OffsetPowerLaw(NamedTuple):
    """I(d) ≈ amplitude · d**(−alpha) + offset: a decaying power law above a constant bias.

    Unpacks as (A, alpha, C), the paper's bias-corrected two-point fit (Appx. B).
    """

    amplitude: float
    alpha: float
    offset: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.amplitude * np.asarray(x, dtype=float) ** (-self.alpha) + self.offset

    def label(self, var: str = "d") -> str:
        return f"{self.amplitude:.3g}·{var}^−{self.alpha:.3f} + {self.offset:.2g}"


def fit_power_law_with_offset(x: np.ndarray, y: np.ndarray, grid: int = 400) -> OffsetPowerLaw:
    """Least squares of ln(y − C) = ln A − α ln x over A, α and 0 < C < min y.

    For a fixed C the best A, α are a straight-line fit, so only C is searched: a log-spaced
    grid of the gap min y − C (the objective has narrow valleys near min y), then a bounded
    scalar minimisation around the best grid point. C at the bottom of its range means the data
    show no constant bias; the fit then reduces to a plain power law.
    """
    x, y = _positive(x, y, need_y=True)
    log_x = np.log(x)
    top = float(y.min())

    def residual(c: float) -> float:
        log_y = np.log(y - c)
        slope, intercept = np.polyfit(log_x, log_y, 1)
        return float(np.sum((log_y - intercept - slope * log_x) ** 2))

    gaps = top * np.geomspace(1e-9, 1.0, grid)  # min y − C, from "C just below min y" to "C = 0"
    costs = [residual(top - gap) for gap in gaps]
    best = int(np.argmin(costs))
    low, high = top - gaps[min(best + 1, grid - 1)], top - gaps[max(best - 1, 0)]
    refined = scipy.optimize.minimize_scalar(residual, bounds=(max(low, 0.0), high), method="bounded",
                                             options={"xatol": top * 1e-12})
    c = float(refined.x) if refined.fun <= costs[best] else float(top - gaps[best])
    slope, intercept = np.polyfit(log_x, np.log(y - c), 1)
    return OffsetPowerLaw(float(np.exp(intercept)), float(-slope), c)


def fit_power_law_weighted(x: np.ndarray, y: np.ndarray, sigma: np.ndarray) -> PowerLawFit:
    """Weighted least squares of y ≈ A·x^β in linear space, each point weighted by 1/σ².

    For a bias-corrected two-point curve (raw − shuffled baseline, chapter 02) whose points
    near zero may be negative: every point is kept, noise pushes as many down as up, and the
    fit is not biased toward the points noise pushed up (a log–log fit can only keep the
    positive ones). The start is the log–log fit of the points well above their noise.
    ``exponent_stderr`` is the least-squares standard error with σ taken as absolute.
    ``r_squared`` is the weighted R² in linear space.
    """
    x, y = _positive(x, y, need_y=False)
    sigma = np.asarray(sigma, dtype=float)
    if sigma.shape != y.shape or not np.all(np.isfinite(sigma)) or np.any(sigma <= 0):
        raise ValueError("sigma must be finite, positive, one per point")
    clear = y > 2 * sigma
    start = fit_power_law(x[clear], y[clear]) if clear.sum() >= 2 else PowerLawFit(float(max(y.max(), 1e-12)), -1.0,
                                                                                   float("nan"), float("nan"))
    log_x = np.log(x)

    def residuals(theta: np.ndarray) -> np.ndarray:
        return (np.exp(theta[0] + theta[1] * log_x) - y) / sigma

    result = scipy.optimize.least_squares(residuals, [math.log(start.amplitude), start.exponent], method="lm")
    log_a, beta = result.x
    try:
        covariance = np.linalg.inv(result.jac.T @ result.jac)
        stderr = float(np.sqrt(covariance[1, 1]))
    except np.linalg.LinAlgError:
        stderr = float("nan")
    weights = 1 / sigma**2
    mean = float(weights @ y / weights.sum())
    r_squared = 1 - float(np.sum(result.fun**2)) / float(weights @ (y - mean) ** 2)
    return PowerLawFit(float(math.exp(log_a)), float(beta), stderr, r_squared)


def fit_log_law_weighted(x: np.ndarray, y: np.ndarray, sigma: np.ndarray) -> LogLawFit:
    """Weighted least squares of y ≈ a + b ln x, each point weighted by 1/σ² (the log law's counterpart of
    :func:`fit_power_law_weighted`, so that the two compare on the same points with the same weights).
    ``r_squared`` is the weighted R²."""
    x, y = _positive(x, y, need_y=False)
    sigma = np.asarray(sigma, dtype=float)
    if sigma.shape != y.shape or not np.all(np.isfinite(sigma)) or np.any(sigma <= 0):
        raise ValueError("sigma must be finite, positive, one per point")
    design = np.column_stack([np.ones_like(x), np.log(x)]) / sigma[:, None]
    (offset, slope), *_ = np.linalg.lstsq(design, y / sigma, rcond=None)
    covariance = np.linalg.inv(design.T @ design)
    weights = 1 / sigma**2
    mean = float(weights @ y / weights.sum())
    chi2 = float(np.sum(((y - offset - slope * np.log(x)) / sigma) ** 2))
    return LogLawFit(float(offset), float(slope), float(np.sqrt(covariance[1, 1])),
                     1 - chi2 / float(weights @ (y - mean) ** 2))


@dataclass(frozen=True)
class LawComparison:
    """A power law A·x^β and a logarithmic law a + b ln x fitted to the same points with the same weights.

    Both have two parameters, so the difference of their Akaike (or Bayesian) information criteria is the
    difference of their χ²: ``delta_aic`` = χ²_log − χ²_power is positive when the power law fits better. Sub-volume
    power-law growth rather than logarithmic growth is the paper's point about natural language (first version,
    Appx. A; the Gaussian log family of Appx. C is the logarithmic counter-example).
    """

    power: PowerLawFit
    log: LogLawFit
    chi2_power: float
    chi2_log: float

    @property
    def delta_aic(self) -> float:
        return self.chi2_log - self.chi2_power

    @property
    def preferred(self) -> str:
        return "power" if self.delta_aic > 0 else "logarithmic"


def compare_power_log(x: np.ndarray, y: np.ndarray, sigma: np.ndarray) -> LawComparison:
    """Fit y ≈ A·x^β and y ≈ a + b ln x, both in linear space weighted by 1/σ², and their χ²."""
    x, y = _positive(x, y, need_y=False)
    sigma = np.asarray(sigma, dtype=float)
    power, log = fit_power_law_weighted(x, y, sigma), fit_log_law_weighted(x, y, sigma)
    chi2 = lambda f: float(np.sum(((y - f(x)) / sigma) ** 2))  # noqa: E731
    return LawComparison(power, log, chi2(power), chi2(log))
