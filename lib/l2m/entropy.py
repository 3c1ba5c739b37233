"""Entropy of discrete samples: the naive plug-in estimate and Grassberger's (paper eqs. B.5–B.6).

From counts n_i with N = Σ n_i, the plug-in estimate Σ (n_i/N) ln(N/n_i) is biased low when
many symbols are seen only a few times. Grassberger (2003) replaces ln n_i by G(n_i):

    Ĥ_G = ln N − (1/N) Σ_i n_i G(n_i),
    G(n) = ψ(n) + ((−1)^n / 2)·[ψ((n+1)/2) − ψ(n/2)]          (ψ = digamma),

with G(1) = −γ − ln 2, G(2m+1) = G(2m) = ψ(m + ½) + ln 2, and standard error
σ_H = sqrt( Σ_i (n_i/N)(G(n_i) − ln N)² − Ĥ_G² ) / sqrt(N).

(Some libraries call Grassberger's 1988 formula by the same name; it is a different estimator.)

Counts arrive either as an array of counts or, for the large pair tables of chapter 02, as a
histogram: ``values`` k and ``multiplicities`` m_k (how many symbols were seen k times), which
gives the same sums over far fewer distinct values.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.special

EULER_GAMMA = 0.5772156649015329


def grassberger_g(n: np.ndarray | int) -> np.ndarray | float:
    """G(n) of Grassberger's estimator for counts n ≥ 1 (eq. B.6)."""
    n_arr = np.asarray(n, dtype=float)
    if np.any(n_arr < 1) or np.any(n_arr != np.floor(n_arr)):
        raise ValueError("G(n) is defined for integer counts n >= 1")
    sign = np.where(n_arr % 2 == 0, 1.0, -1.0)  # (−1)^n
    psi = scipy.special.digamma
    g = psi(n_arr) + 0.5 * sign * (psi((n_arr + 1) / 2) - psi(n_arr / 2))
    return float(g) if np.ndim(n) == 0 else g


def count_histogram(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct positive counts k and how many symbols have each (zeros are dropped)."""
    counts = np.asarray(counts)
    counts = counts[counts > 0].astype(np.int64)
    if counts.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    multiplicities = np.bincount(counts)
    values = np.flatnonzero(multiplicities)
    return values, multiplicities[values]


def _check(values: np.ndarray, multiplicities: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    values, multiplicities = np.asarray(values, float), np.asarray(multiplicities, float)
    n_total = float(values @ multiplicities)
    if n_total <= 0:
        raise ValueError("entropy needs at least one observation")
    return values, multiplicities, n_total


def grassberger_entropy_from_histogram(values: np.ndarray, multiplicities: np.ndarray) -> tuple[float, float]:
    """(Ĥ_G, σ_H) in nats from a count histogram."""
    values, multiplicities, n_total = _check(values, multiplicities)
    log_n = math.log(n_total)
    weights = values * multiplicities / n_total  # Σ over symbols of n_i/N, grouped by count
    deviation = log_n - grassberger_g(values)  # ln N − G(n_i)
    entropy = float(weights @ deviation)
    variance = float(weights @ deviation**2) - entropy**2
    return entropy, math.sqrt(max(variance, 0.0) / n_total)


def plugin_entropy_from_histogram(values: np.ndarray, multiplicities: np.ndarray) -> float:
    """Naive plug-in entropy Σ (n_i/N) ln(N/n_i) in nats from a count histogram."""
    values, multiplicities, n_total = _check(values, multiplicities)
    return float((values * multiplicities / n_total) @ np.log(n_total / values))


def grassberger_entropy(counts: np.ndarray) -> tuple[float, float]:
    """(Ĥ_G, σ_H) in nats from symbol counts (paper eq. B.5)."""
    return grassberger_entropy_from_histogram(*count_histogram(counts))


def plugin_entropy(counts: np.ndarray) -> float:
    """Naive plug-in entropy in nats from symbol counts; biased low when counts are small."""
    return plugin_entropy_from_histogram(*count_histogram(counts))


def joint_ids(*columns: np.ndarray) -> np.ndarray:
    """One integer id per distinct row of paired samples (e.g. whole blocks of tokens)."""
    stacked = np.column_stack([np.asarray(c).reshape(len(c), -1) for c in columns])
    return np.unique(stacked, axis=0, return_inverse=True)[1].ravel()


def mutual_information(x: np.ndarray, y: np.ndarray, estimator: str = "grassberger") -> float:
    """I(X; Y) = H(X) + H(Y) − H(X, Y) from paired samples, in nats.

    ``x`` and ``y`` are (n,) symbols or (n, k) blocks of symbols (each row one outcome).
    ``estimator`` is "grassberger" or "plugin".
    """
    if estimator not in ("grassberger", "plugin"):
        raise ValueError(f"estimator must be 'grassberger' or 'plugin', not {estimator!r}")
    entropy = (lambda c: grassberger_entropy(c)[0]) if estimator == "grassberger" else plugin_entropy
    counts = lambda ids: np.bincount(ids)
    return entropy(counts(joint_ids(x))) + entropy(counts(joint_ids(y))) - entropy(counts(joint_ids(x, y)))


def bias_against_sample_size(
    probabilities: np.ndarray, sizes: np.ndarray, repeats: int = 20, seed: int = 0
) -> dict[str, np.ndarray]:
    """Mean plug-in and Grassberger estimates from ``repeats`` samples of each size.

    Data with a known entropy (``probabilities``) show each estimator's bias against N.
    """
    probabilities = np.asarray(probabilities, dtype=float)
    truth = float(-(probabilities[probabilities > 0] @ np.log(probabilities[probabilities > 0])))
    rng = np.random.default_rng(seed)
    plugin, grassberger = [], []
    for n in sizes:
        counts = [rng.multinomial(int(n), probabilities) for _ in range(repeats)]
        plugin.append(np.mean([plugin_entropy(c) for c in counts]))
        grassberger.append(np.mean([grassberger_entropy(c)[0] for c in counts]))
    return {"sizes": np.asarray(sizes), "truth": np.full(len(sizes), truth),
            "plugin": np.array(plugin), "grassberger": np.array(grassberger)}
