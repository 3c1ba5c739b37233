"""Exact reference predictors and the exact minimal history state of the Gaussian data.

A KL curve of a trained model means little alone: on this data even a model that learned
nothing gets worse with L, and a linear model with no position signal is held back by position-blindness,
not by its state (measured for this book; the paper has no such control). These quantities are computed from the covariance Σ of one channel,
with no training, for any L: the expected conditional KL of predicting with the marginal
N(0, 1) (:func:`marginal_kl`), with the best linear predictor that sees only the last k tokens,
a fixed window state (:func:`window_kl`), with the best linear predictor that cannot see the
position, exact for linear position-blind models and a reference for others (:func:`position_blind_kl`), and the
canonical correlations between past and future, whose count at 99 % of I_BP is the minimal
linear history state (:func:`canonical_mi`, :func:`minimal_state_dim`, :func:`minimal_state_table`:
the L2M condition of Sec. 5 computed exactly for this data). Chapters 04 and 05 draw them
beside the trained models. Channels are independent copies, so every number here is per
channel and holds for any number of channels.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.fft
import scipy.linalg

from .fit import PowerLawFit, fit_power_law
from .gaussian import bipartite_mi, conditional_std, covariance


def marginal_kl(cov: np.ndarray) -> np.ndarray:
    """Expected KL_t of predicting N(0, 1) ("learned nothing"): −ln C_tt, (L,) (chapter 03).

    With Var z_t = 1 the expected KL is ln(1/σ_p) + (σ_p² + E μ_p²)/2 − ½ and E μ_p² = 1 − σ_p².
    """
    kl = -np.log(conditional_std(cov))
    return np.where(np.abs(kl) < 1e-12, 0.0, kl)  # exact zeros where rounding leaves ±1e-16 (t = 1)


def _window_regression(cov: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For positions t > k: (t, window, coefficients) of the regression of z_t on its last ``k`` tokens.

    ``window`` (n−k−1, k) holds the indices t−k..t−1 and ``coefficients`` (n−k−1, k) solve
    Σ_ww c = Σ_wt, one k×k system per position, batched.
    """
    t = np.arange(k + 1, len(cov))
    window = t[:, None] - k + np.arange(k)[None, :]  # (n−k−1, k) indices of the last k tokens
    s_ww = cov[window[:, :, None], window[:, None, :]]  # (n−k−1, k, k)
    s_wt = cov[window, t[:, None]]  # (n−k−1, k)
    return t, window, np.linalg.solve(s_ww, s_wt[..., None])[..., 0]


def window_variance(cov: np.ndarray, k: int) -> np.ndarray:
    """Var(z_t | z_{t−k..t−1}): the error of the best linear predictor from the last ``k`` tokens, (L,)."""
    n = len(cov)
    if k == 0:
        return np.diag(cov).copy()  # no window: the marginal variance
    var = np.empty(n)
    var[: k + 1] = conditional_std(cov[: k + 1, : k + 1]) ** 2  # t ≤ k: the window holds the whole past
    if n > k + 1:
        t, window, coefficients = _window_regression(cov, k)
        var[k + 1 :] = cov[t, t] - np.einsum("nk,nk->n", cov[window, t[:, None]], coefficients)
    return var


def window_weights(cov: np.ndarray, k: int) -> np.ndarray:
    """Weights of the best linear predictor from the last ``k`` tokens: μ_t = Σ_s W[t, s] z_s, (L, L).

    Row t holds Σ_wt Σ_ww⁻¹ on the window t−k..t−1 (strictly lower triangular); for t ≤ k the
    window is the whole past and the row is the exact conditional's, I − diag(C) C⁻¹ (Cholesky).
    """
    n = len(cov)
    weights = np.zeros((n, n))
    if k == 0:
        return weights
    head = min(k + 1, n)  # t ≤ k: the exact conditional of the first k + 1 tokens
    chol = scipy.linalg.cholesky(cov[:head, :head], lower=True, check_finite=False)
    weights[:head, :head] = np.eye(head) - np.diag(chol)[:, None] * scipy.linalg.solve_triangular(
        chol, np.eye(head), lower=True, check_finite=False)
    if n > k + 1:
        t, window, coefficients = _window_regression(cov, k)
        weights[t[:, None], window] = coefficients
    return np.tril(weights, -1)  # exact zeros on and above the diagonal (rounding leaves ±1e-17)


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


# --- the best position-blind linear predictor (this book's reference, not the paper's) -------------------------------------


def _lag_gram(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Normal equations of the shared lag weights: A (L−1, L−1), b (L−1,) and tr Σ.

    Σ_t e_t(w) = tr Σ − 2 wᵀb + wᵀA w with A_jk = Σ_t Σ[t−j, t−k] over t with t−j, t−k ≥ 1, and
    b_j = Σ_t Σ[t, t−j]. For j ≤ k and d = k − j, A_jk is the sum of the first L − k entries of
    the d-th diagonal of Σ, so one cumulative sum per diagonal gives a whole diagonal of A:
    O(L²) work and memory, no O(L³) loop.
    """
    n = len(cov)
    m = n - 1  # lags 1..L−1
    gram, moment = np.empty((m, m)), np.empty(m)
    flat = gram.reshape(-1)  # a view: strided slices of it are the diagonals of A
    for d in range(n):
        partial = np.concatenate([[0.0], np.cumsum(np.diagonal(cov, d))])  # (L−d+1,) prefix sums of Σ[s, s+d]
        if d >= 1:
            moment[d - 1] = partial[-1]  # b_d: the whole d-th diagonal
        if d < m:
            values = partial[m - d : 0 : -1]  # A_{j, j+d} = partial[L − j − d] for j = 1..L−1−d
            flat[d :: m + 1][: m - d] = values  # the d-th superdiagonal
            flat[d * m :: m + 1][: m - d] = values  # and, by symmetry, the d-th subdiagonal
    return gram, moment, float(np.trace(cov))


def position_blind_predictor(cov: np.ndarray) -> tuple[np.ndarray, float]:
    """The best position-blind linear Gaussian predictor: lag weights w (L−1,) and variance σ².

    A model with no position signal applies the same function at every position. The linear
    one is a causal convolution over the BOS-padded input, μ_t = Σ_{j=1}^{L−1} w_j z_{t−j}
    (z before the start is 0), with one σ for all t. Since μ_q − μ_p depends on z_<t only, it is
    orthogonal to z_t − μ_p, so σ_p,t² + E(μ_q − μ_p)² = e_t(w) := E(z_t − μ_t)² and the average
    expected KL over t = 1..L is

        ln σ − mean_t ln σ_p,t + mean_t e_t(w) / (2σ²) − ½.

    For any w the best σ² is mean_t e_t(w); what is left, ½ ln mean_t e_t(w) + const, is least
    where Σ_t e_t(w) is, i.e. at the solution of the normal equations A w = b (:func:`_lag_gram`).
    A is positive definite when Σ is (the t = L term alone sees every lag), so a Cholesky solve
    suffices; least squares is the fallback if rounding makes it singular.
    """
    gram, moment, trace = _lag_gram(np.asarray(cov, dtype=float))
    if len(moment) == 0:  # L = 1: nothing to condition on
        return moment, trace
    try:
        weights = scipy.linalg.solve(gram, moment, assume_a="pos", check_finite=False)
    except np.linalg.LinAlgError:
        weights = scipy.linalg.lstsq(gram, moment, check_finite=False)[0]
    return weights, (trace - weights @ moment) / len(cov)  # min Σ_t e_t = tr Σ − wᵀb at the optimum


def position_blind_error(cov: np.ndarray, weights: np.ndarray, chunk: int = 256) -> np.ndarray:
    """e_t = E(z_t − Σ_j w_j z_{t−j})² of any shared lag weights, exactly from Σ, (L,).

    The residual is B z with B the lower-triangular Toeplitz matrix of h = (1, −w), so
    e = diag(B Σ Bᵀ) = colsum(Bᵀ ∘ Σ Bᵀ). Each row of Σ Bᵀ is a causal convolution of a row of
    Σ with h, done by FFT in chunks of rows: O(L² log L) time, O(L · chunk) extra memory.
    """
    n = len(cov)
    h = np.concatenate([[1.0], -np.asarray(weights, dtype=float)])  # (L,) the residual filter
    size = scipy.fft.next_fast_len(2 * n - 1, real=True)  # linear, not circular, convolution
    h_spectrum = scipy.fft.rfft(h, size)
    t = np.arange(n)[None, :]
    err = np.zeros(n)
    for start in range(0, n, chunk):
        s = np.arange(start, min(start + chunk, n))[:, None]
        spectrum = scipy.fft.rfft(cov[start : start + chunk], size) * h_spectrum  # rows of Σ convolved with h
        rows = scipy.fft.irfft(spectrum, size)[:, :n]  # (chunk, L) of Σ Bᵀ
        b_rows = np.where(t >= s, h[np.maximum(t - s, 0)], 0.0)  # (chunk, L) of Bᵀ: Bᵀ[s, t] = h_{t−s}
        err += np.einsum("st,st->t", b_rows, rows)
    return err


def position_blind_kl(cov: np.ndarray) -> np.ndarray:
    """Expected KL_t of the best position-blind linear predictor, (L,): no *linear* model without a position signal
    does better; a nonlinear recurrent one can count positions from BOS and go below it (a reference, not a cap).

    KL_t = ln(σ/σ_p,t) + e_t / (2σ²) − ½ with e_t from Σ and the optimal w, σ
    (:func:`position_blind_predictor`). Its average lies between 0 (the exact conditional, the
    floor) and the marginal's (w = 0, σ = 1 is one of the predictors it chooses among).
    """
    weights, variance = position_blind_predictor(cov)
    err = position_blind_error(cov, weights)
    return 0.5 * np.log(variance) - np.log(conditional_std(cov)) + err / (2 * variance) - 0.5


# --- the exact minimal history state (Sec. 5, the L2M condition) ----------------------------


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
    return _pairs_carrying(canonical_mi(cov, ell), fraction)


def linear_state_bound(cov: np.ndarray, ell: int, n: int, channels: int = 1) -> float:
    """Most MI (nats, all channels) a linear history state of ``n`` numbers can carry about Y = z[ell:].

    For ``channels`` independent copies of one channel with covariance Σ, any linear state z = A X of
    n numbers has I(z; Y) ≤ the sum of the n largest canonical-pair MIs pooled over the channels, and
    the projection onto those canonical directions attains it (Sec. 5's data-processing step, made
    exact for linear states). n at or above channels × rank gives channels · I_BP(ell).
    """
    if n < 0 or channels < 1:
        raise ValueError(f"need n ≥ 0 numbers and channels ≥ 1, not n = {n}, channels = {channels}")
    pooled = np.repeat(canonical_mi(cov, ell), channels)  # sorted, largest first: each pair once per channel
    return float(pooled[:n].sum())


def _pairs_carrying(mi: np.ndarray, fraction: float) -> int:
    """Fewest of the (sorted, largest first) canonical pairs ``mi`` whose MI reaches ``fraction`` of the total."""
    return int(np.searchsorted(np.cumsum(mi), fraction * mi.sum() * (1 - 1e-12)) + 1)


STATE_FRACTIONS = (0.9, 0.99)  # fractions of I_BP the minimal state table counts pairs for, unless told


def pairs_column(fraction: float) -> str:
    """The column of :func:`minimal_state_table` for ``fraction`` of I_BP: ``"pairs_<100 f>"``.

    0.99 gives ``"pairs_99"``, 0.9 ``"pairs_90"``, 0.995 ``"pairs_99.5"`` (percent, shortest form).
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction = {fraction} is not in (0, 1]")
    return f"pairs_{100 * fraction:g}"


def column_fraction(column: str) -> float | None:
    """The fraction of I_BP a :func:`pairs_column` name stands for; None for any other column."""
    prefix = "pairs_"
    return float(column[len(prefix):]) / 100 if column.startswith(prefix) else None


def maximising_split(cov: np.ndarray) -> int:
    """The split ℓ with the largest I_BP(ℓ) (the first, if several). On the paper's Gaussian families it is not
    the equal split: the centre cut falls between whole sub-trees and is a dip (chapter 03)."""
    ells = np.arange(1, len(cov))
    return int(ells[np.argmax(bipartite_mi(cov, ells))])


def minimal_state_table(max_layers: int, family: str = "power",
                        fractions: tuple[float, ...] = STATE_FRACTIONS, split: str = "equal") -> pd.DataFrame:
    """The exact minimal linear history state at a split against L = 4**l, l = 1..max_layers.

    ``split`` is "equal" (ℓ = L/2, the paper's) or "max" (the ℓ of :func:`maximising_split`).
    One row per L: ``seq_len``, ``ell``, ``bipartite_mi`` (I_BP(ℓ), nats per channel) and, per fraction
    f, the column :func:`pairs_column` names (``pairs_99`` for 0.99): the fewest canonical pairs between X = z[:L/2] and Y = z[L/2:] that
    carry f of I_BP. A linear state with fewer numbers per channel cannot carry that much of the
    MI (Sec. 5's theorem with the state made linear), so this is what the data asks of a model.
    """
    if split not in ("equal", "max"):
        raise ValueError(f"split must be 'equal' or 'max', not {split!r}")
    rows = []
    for layers in range(1, max_layers + 1):
        cov = covariance(layers, family)
        ell = maximising_split(cov) if split == "max" else len(cov) // 2
        mi = canonical_mi(cov, ell)
        row = {"seq_len": len(cov), "ell": ell, "bipartite_mi": bipartite_mi(cov, ell)}
        rows.append(row | {pairs_column(f): _pairs_carrying(mi, f) for f in fractions})
    return pd.DataFrame(rows)


def state_growth_fit(table: pd.DataFrame, fraction: float = 0.99, min_seq_len: int = 16) -> PowerLawFit:
    """Power law of the minimal state (pairs carrying ``fraction`` of I_BP) against L.

    Points below ``min_seq_len`` are left out: at L = 4 the split has only 2 + 2 tokens, so the
    count can only be 1 or 2 (it is 1 at both 90 % and 99 %); integer resolution, not the data,
    sets it. From L = 16 on the counts grow like I_BP itself (exponent ≈ 0.77 against β ≈ 0.79).
    """
    kept = table[table["seq_len"] >= min_seq_len]
    return fit_power_law(kept["seq_len"].to_numpy(), kept[pairs_column(fraction)].to_numpy())


def gaussian_references(cov: np.ndarray, windows: tuple[int, ...] = (1, 4, 16)) -> dict[str, np.ndarray]:
    """Expected KL_t of the exact reference predictors that belong on every KL figure, (L,) each (beside the
    KL curves of NeurIPS Fig. 3, Fig. 4 of the first version).

    The marginal N(0, 1), the best linear predictors from the last k tokens (k < L − 1), and the
    best position-blind linear predictor (exact for linear position-blind models); the exact
    conditional, KL 0, is the floor of them all.
    """
    refs = {"N(0, 1): learned nothing": marginal_kl(cov)}
    for k in windows:
        if k < len(cov) - 1:
            refs[f"best linear, last {k} token{'s' if k > 1 else ''}"] = window_kl(cov, k)
    refs["best linear, position-blind"] = position_blind_kl(cov)
    return refs
