"""Does the KL of SSMs collapse onto one curve of I_BP / dim(z)? (chapter 05; NeurIPS version, Fig. 3c and Sec. 6)

The NeurIPS version trains Mamba models of many sizes at many lengths and draws their average KL against
the ratio of the data's bipartite MI to the history state, I_BP(L/2) / dim(z): the points fall on one
curve, read as "performance depends on that ratio alone". Here the ratio is taken for the whole model,
I_BP(L/2) · channels / dim(z) (nats per state number: every channel's MI must pass the one state).

**The test.** log KL is fitted by a quadratic in u = ln(ratio) three ways: one curve for every run
(``single``), one curve per length (``per_length``, 3× the parameters) and one curve in ln dim(z) alone
(``state_only``). The points collapse when the per-length curves explain no more than chance would give
them: an F-test of the nested fits, p ≥ ``COLLAPSE_P`` (0.05) → the single curve suffices; p < ``SPLIT_P``
(0.01) → each length needs its own curve (no collapse); between → not resolved. The single curve must
also be monotone (rising) over the measured ratios, and fit better than the curve in the state alone, or
the ratio is not what explains the KL. The residual spread about each fit is reported beside it.

**The extrapolation** (Sec. 6): the single curve inverted at a target KL gives the ratio a model needs;
a bipartite MI at 10^6 tokens divided by that ratio is the state it would need.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from . import claims, gaussian
from .binding import SSMS
from .condition import covariance

DEGREE = 2  # quadratic in ln(ratio): the curve bends from a floor (large states) to the marginal (tiny states)
COLLAPSE_P, SPLIT_P = 0.05, 0.01  # F-test: per-length curves not needed / needed


@dataclass(frozen=True)
class CollapseFit:
    """The three fits of log KL and the F-test between the single and the per-length curves."""

    n: int  # runs
    seq_lens: tuple[int, ...]  # the distinct L of the runs
    rss_single: float
    rss_per_length: float
    rss_state_only: float
    spread_single: float  # residual sd of log KL about the single curve (RSS / (n − p))^½
    spread_per_length: float
    spread_state_only: float
    f_statistic: float
    p_value: float
    monotone: bool  # the single curve rises over the measured ratios
    coefficients: tuple[float, ...]  # the single curve, numpy.polyval order, in u = ln(ratio)
    u_range: tuple[float, float]

    @property
    def lengths(self) -> int:
        """How many distinct L the runs have."""
        return len(self.seq_lens)

    def curve(self, ratio: np.ndarray) -> np.ndarray:
        """The single curve's KL at ``ratio`` (nats per state number)."""
        return np.exp(np.polyval(self.coefficients, np.log(np.asarray(ratio, dtype=float))))

    def ratio_for(self, kl: float) -> float:
        """The ratio at which the single curve reaches ``kl`` within the measured range (NaN outside it)."""
        grid = np.linspace(*self.u_range, 2001)
        values = np.polyval(self.coefficients, grid)
        below = np.nonzero(values <= np.log(kl))[0]
        return float(np.exp(grid[below[-1]])) if len(below) else float("nan")


def collapse_table(table: pd.DataFrame) -> pd.DataFrame:
    """The SSM runs of ``table`` (:func:`l2m.condition.gaussian_runs`) with the collapse's ratio: L, state, I_BP(L/2)
    per channel, ratio = I_BP · channels / state, average KL with its standard error, converged, label."""
    ssm = table[table["arch"].isin(SSMS)].copy()
    ssm["i_bp"] = [float(gaussian.bipartite_mi(covariance(r.layers, r.family, r.L), r.L // 2)) for r in ssm.itertuples()]
    ssm["ratio"] = ssm["i_bp"] * ssm["channels"] / ssm["state"]
    ssm["kl_se"] = [run.average_se for run in ssm["run"]]
    return ssm[["label", "arch", "L", "state", "i_bp", "ratio", "average_kl", "kl_se", "convergence", "converged",
                "run"]].sort_values(["L", "state"], kind="stable").reset_index(drop=True)


def fit_converged(points: pd.DataFrame) -> CollapseFit | None:
    """:func:`fit` on the converged runs of ``points`` (:func:`collapse_table`) at the lengths with enough of them
    for a curve of their own (``DEGREE + 2``), or None when fewer than two lengths have that many."""
    kept = points[points["converged"]]
    kept = kept[kept.groupby("L")["L"].transform("size") >= DEGREE + 2]
    try:
        return fit(kept["ratio"], kept["average_kl"], kept["L"], kept["state"])
    except ValueError:
        return None


def _rss(u: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    coefficients = np.polyfit(u, y, DEGREE)
    return float(((np.polyval(coefficients, u) - y) ** 2).sum()), coefficients


def fit(ratio: np.ndarray, kl: np.ndarray, seq_len: np.ndarray, state: np.ndarray) -> CollapseFit:
    """The collapse test on runs given by ratio = I_BP·C / dim(z), their average KL, L and dim(z)."""
    u, y = np.log(np.asarray(ratio, dtype=float)), np.log(np.asarray(kl, dtype=float))
    seq_len = np.asarray(seq_len)
    groups = [seq_len == L for L in np.unique(seq_len)]
    if any(g.sum() <= DEGREE + 1 for g in groups) or len(groups) < 2:
        raise ValueError(f"the collapse test needs ≥ 2 lengths with ≥ {DEGREE + 2} runs each")
    p = DEGREE + 1
    rss_single, coefficients = _rss(u, y)
    rss_per = sum(_rss(u[g], y[g])[0] for g in groups)
    rss_state, _ = _rss(np.log(np.asarray(state, dtype=float)), y)
    n, k = len(y), len(groups)
    dof_per = n - p * k
    f_stat = ((rss_single - rss_per) / (p * (k - 1))) / max(rss_per / dof_per, 1e-300) if dof_per > 0 else np.nan
    p_value = float(stats.f.sf(f_stat, p * (k - 1), dof_per)) if dof_per > 0 else np.nan
    grid = np.linspace(u.min(), u.max(), 200)
    monotone = bool(np.all(np.diff(np.polyval(coefficients, grid)) >= -1e-12))
    return CollapseFit(n=n, seq_lens=tuple(int(L) for L in np.unique(seq_len)), rss_single=rss_single,
                       rss_per_length=rss_per, rss_state_only=rss_state,
                       spread_single=(rss_single / (n - p)) ** 0.5, spread_per_length=(rss_per / dof_per) ** 0.5
                       if dof_per > 0 else np.nan, spread_state_only=(rss_state / (n - p)) ** 0.5,
                       f_statistic=float(f_stat), p_value=p_value, monotone=monotone,
                       coefficients=tuple(float(c) for c in coefficients), u_range=(float(u.min()), float(u.max())))


def reading(result: CollapseFit | None, converged: int, runs: int) -> str:
    """The chapter's sentence on the test: its numbers, or why there are none."""
    if result is None:
        return (f"Only {converged} of the {runs} SSM runs have converged, too few for the test (it needs at least "
                f"{DEGREE + 2} converged runs at each of two lengths), so the collapse is not resolved at this preset")
    return (f"Over the {result.n} converged runs at L = {', '.join(map(str, result.seq_lens))} (a length needs "
            f"{DEGREE + 2} converged runs for a curve of its own) the spread of ln KL about the single curve is {result.spread_single:.3f}, "
            f"about the per-length curves {result.spread_per_length:.3f} and about a curve in dim(z) alone "
            f"{result.spread_state_only:.3f} (F-test p = {result.p_value:.3f})")


def verdict(result: CollapseFit | None) -> str:
    """Three-way: the points collapse, do not, or this preset's runs cannot tell (None: too few converged runs)."""
    if result is None or not np.isfinite(result.p_value):
        return claims.UNRESOLVED
    if result.p_value < SPLIT_P or not result.monotone:
        return claims.FAILS
    if result.p_value >= COLLAPSE_P and result.rss_single < result.rss_state_only:
        return claims.HOLDS
    return claims.UNRESOLVED


def collapse_claim(result: CollapseFit | None, runs: int = 0) -> claims.Claim:
    """The claims row: one monotone curve of I_BP·C/dim(z) explains log KL as well as a curve per length."""
    measured = (f"too few converged runs ({runs}) for ≥ 2 lengths with ≥ {DEGREE + 2} runs each" if result is None else
                f"{result.n} converged runs at L = {', '.join(map(str, result.seq_lens))}; spread of ln KL about one curve "
                  f"{result.spread_single:.3f}, about a curve per length {result.spread_per_length:.3f}, about a curve "
                  f"in dim(z) alone {result.spread_state_only:.3f}; F = {result.f_statistic:.2f}, p = "
                f"{result.p_value:.3f}; {'rising' if result.monotone else 'not monotone'}")
    return claims.Claim(
        claim="The average KL of SSMs of every state and length collapses onto one curve of I_BP·C / dim(z)",
        paper="NeurIPS Fig. 3c: Mamba 50M–1.4B, L = 64 … 16,384 on one curve",
        measured=measured,
        verdict=verdict(result),
        test=(f"quadratic in ln(ratio) for all runs against one per length (F-test): p ≥ {COLLAPSE_P} with a "
              f"rising curve that beats the curve in dim(z) alone → holds; p < {SPLIT_P} or not rising → does not "
              f"hold; else not resolved"),
        why="the paper's reading of Fig. 3c: performance depends on the ratio alone, so a length adds nothing",
    )


def extrapolated_mi(text_fit: object, length: float, pivot: float) -> tuple[float, float, float]:
    """A power law I = A·L^β fitted up to ``pivot`` tokens, carried to ``length``: (low, centre, high), the range
    from β ± 2 sd with the curve held at the pivot (where the data are)."""
    at_pivot = float(text_fit(pivot))
    beta, sd = text_fit.exponent, text_fit.exponent_stderr
    return tuple(at_pivot * (length / pivot) ** b for b in (beta - 2 * sd, beta, beta + 2 * sd))


def state_needed(result: CollapseFit, target_kl: float, mi: tuple[float, float, float]) -> tuple[float, float, float]:
    """dim(z) a model needs to keep ``target_kl`` when the data's MI is ``mi`` = (low, centre, high) nats.

    The ratio comes from the single curve at ``target_kl`` (read within the measured range only; its own
    uncertainty is not propagated), so the state scales like the MI: (low, centre, high).
    """
    ratio = result.ratio_for(target_kl)
    return tuple(m / ratio for m in mi)


def extrapolation_status(result: CollapseFit | None, needed: float) -> str:
    """How far the extrapolated state can be read: not computed, computed on a curve the collapse test rejects (the
    method only, not an estimate), or computed on a curve it does not reject."""
    if result is None or not np.isfinite(needed):
        return "not computed at this preset: no text fit, no single curve, or no converged run at the longest length"
    said = verdict(result)
    if said == claims.HOLDS:
        return "computed from converged runs that collapse onto the single curve"
    return (f"computed on a single curve that the collapse test {'rejects' if said == claims.FAILS else 'cannot confirm'} "
            f"at this preset (the collapse {said}): it shows the method, it is not an estimate")
