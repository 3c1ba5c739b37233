"""Scaling-law fits shared by the chapters.

The paper fits every scaling law as a straight line in log–log space (ln I = ln A + β ln L,
Sec. 3 and Appx. B); a logarithmic law I = a + b ln L is a straight line in semi-log space.
Both are ordinary least squares, done by scipy.stats.linregress, which also gives the
standard errors of intercept and slope.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
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

    def label(self) -> str:
        return f"{self.amplitude:.3g}·L^{self.exponent:.3f}"


@dataclass(frozen=True)
class LogLawFit:
    """I(x) ≈ offset + slope · ln x, fitted in semi-log space."""

    offset: float
    slope: float
    slope_stderr: float
    r_squared: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.offset + self.slope * np.log(np.asarray(x, dtype=float))

    def label(self) -> str:
        return f"{self.offset:.3g} + {self.slope:.3g}·ln L"


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
