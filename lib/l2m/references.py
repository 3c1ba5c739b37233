"""Exact reference predictors and the exact minimal history state of the Gaussian data.

A KL curve of a trained model means little alone: on this data even a model that learned
nothing gets worse with L, and a model with no position signal is capped by position-blindness,
not by its state (SPEC §4). These quantities are computed from the covariance Σ of one channel,
with no training, for any L: the expected conditional KL of predicting with the marginal
N(0, 1) (:func:`marginal_kl`), with the best linear predictor that sees only the last k tokens,
a fixed window state (:func:`window_kl`), and the canonical correlations between past and future,
whose count at 99 % of I_BP is the minimal linear history state (:func:`canonical_mi`,
:func:`minimal_state_dim`). Chapters 04 and 05 draw them beside the trained models.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg


def conditional_std(cov: np.ndarray) -> np.ndarray:
    """Exact conditional standard deviation of z_t given z_<t: the Cholesky diagonal C_tt, (L,)."""
    return np.diag(scipy.linalg.cholesky(cov, lower=True, check_finite=False)).copy()


def marginal_kl(cov: np.ndarray) -> np.ndarray:
    """Expected KL_t of predicting N(0, 1) ("learned nothing"): −ln C_tt, (L,) (chapter 03).

    With Var z_t = 1 the expected KL is ln(1/σ_p) + (σ_p² + E μ_p²)/2 − ½ and E μ_p² = 1 − σ_p².
    """
    kl = -np.log(conditional_std(cov))
    return np.where(np.abs(kl) < 1e-12, 0.0, kl)  # exact zeros where rounding leaves ±1e-16 (t = 1)


def window_variance(cov: np.ndarray, k: int) -> np.ndarray:
    """Var(z_t | z_{t−k..t−1}): the error of the best linear predictor from the last ``k`` tokens, (L,)."""
    n = len(cov)
    if k == 0:
        return np.diag(cov).copy()  # no window: the marginal variance
    var = np.empty(n)
    var[: k + 1] = conditional_std(cov[: k + 1, : k + 1]) ** 2  # t ≤ k: the window holds the whole past
    if n > k + 1:
        t = np.arange(k + 1, n)
        window = t[:, None] - k + np.arange(k)[None, :]  # (n−k−1, k) indices of the last k tokens
        s_ww = cov[window[:, :, None], window[:, None, :]]  # (n−k−1, k, k)
        s_wt = cov[window, t[:, None]]  # (n−k−1, k)
        weights = np.linalg.solve(s_ww, s_wt[..., None])[..., 0]
        var[k + 1 :] = cov[t, t] - np.einsum("nk,nk->n", s_wt, weights)
    return var


def window_kl(cov: np.ndarray, k: int) -> np.ndarray:
    """Expected KL_t of the best linear predictor that sees only the last ``k`` tokens, (L,).

    That predictor is Gaussian with variance σ_k² ≥ σ_p² and, by orthogonality,
    E(μ_k − μ_p)² = σ_k² − σ_p², so its expected KL is ½ ln(σ_k² / σ_p²): zero where the window
    covers the whole past.
    """
    if k < 0:
        raise ValueError(f"the window k must be ≥ 0, not {k}")
    kl = 0.5 * np.log(window_variance(cov, k) / conditional_std(cov) ** 2)
    return np.where(kl < 1e-12, 0.0, kl)  # exact zeros where the window holds the whole past (rounding leaves ±1e-16)


def canonical_mi(cov: np.ndarray, ell: int) -> np.ndarray:
    """MI carried by each canonical pair between X = z[:ell] and Y = z[ell:], largest first.

    The canonical correlations ρ_i are the singular values of C_X⁻¹ Σ_XY C_Y⁻ᵀ (C the Cholesky
    factors); −½ ln(1 − ρ_i²) sums to I_BP(ell) exactly.
    """
    n = len(cov)
    if not 1 <= ell <= n - 1:
        raise ValueError(f"split position ell must be from 1 to {n - 1}, not {ell}")
    cx = scipy.linalg.cholesky(cov[:ell, :ell], lower=True, check_finite=False)
    cy = scipy.linalg.cholesky(cov[ell:, ell:], lower=True, check_finite=False)
    whitened = scipy.linalg.solve_triangular(cx, cov[:ell, ell:], lower=True, check_finite=False)
    whitened = scipy.linalg.solve_triangular(cy, whitened.T, lower=True, check_finite=False).T
    rho = np.clip(np.linalg.svd(whitened, compute_uv=False), 0.0, 1.0 - 1e-15)
    return -0.5 * np.log1p(-(rho**2))


def minimal_state_dim(cov: np.ndarray, ell: int, fraction: float = 0.99) -> int:
    """Fewest canonical pairs that carry ``fraction`` of I_BP(ell): a linear history state's size, per channel."""
    mi = canonical_mi(cov, ell)
    return int(np.searchsorted(np.cumsum(mi), fraction * mi.sum() * (1 - 1e-12)) + 1)


def gaussian_references(cov: np.ndarray, windows: tuple[int, ...] = (1, 4, 16)) -> dict[str, np.ndarray]:
    """Expected KL_t of the exact reference predictors that belong on every KL figure (SPEC §4), (L,) each.

    The marginal N(0, 1) and the best linear predictors from the last k tokens (k < L); the exact
    conditional, KL 0, is the floor of them all.
    """
    refs = {"N(0, 1): learned nothing": marginal_kl(cov)}
    for k in windows:
        if k < len(cov) - 1:
            refs[f"best linear, last {k} token{'s' if k > 1 else ''}"] = window_kl(cov, k)
    return refs
