"""Scaling-law fits shared by the chapters.

The paper fits every scaling law as a straight line in log–log space (ln I = ln A + β ln L,
Sec. 3 and Appx. B); a logarithmic law I = a + b ln L is a straight line in semi-log space.
Both are ordinary least squares, done by scipy.stats.linregress, which also gives the
standard errors of intercept and slope. The two-point MI adds a constant estimator bias C,
fitted as ln(I − C) = ln A − α ln d (Appx. B).
"""
from __future__ import annotations

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
