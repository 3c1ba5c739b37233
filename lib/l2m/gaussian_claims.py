"""Chapter 03's reading of the exact Gaussian numbers: the split that maximises I_BP, the two-point decay, the claims.

The numbers come from :mod:`l2m.gaussian` (exact linear algebra, Appx. C of both versions of the paper); this
module only reads them. It is kept apart from :mod:`l2m.gaussian` on purpose: that module is part of every
training run's key (:func:`l2m.train.training_code_digest`), and a new claim must not retrain chapter 05.

Every number here is computed exactly (no sampling), so most verdicts are decided outright
(:func:`l2m.claims.exact`). Two rows rest on a least-squares fit to exact points, whose slope has a
least-squares sd that measures how far the points are from a straight line: those use
:func:`l2m.claims.compare` / :func:`l2m.claims.exceeds` with that sd.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import claims, fit, paper

BETA_DIGITS_MARGIN = 0.005  # the paper gives β = 0.79 to two decimals: it stands for [0.785, 0.795]
EXACT_RTOL = 1e-9  # "equal" for exact float64 numbers built from a few dozen products: far above rounding (1e-15)
TP_SLOPE_MARGIN = 1e-3  # −½ln(1 − r²) = ½r²(1 + r²/2 + …); from L = 64 on r² < 6e-4, so the local slope is within 1e-3
ORDERS = 100  # "differ by orders of magnitude": by more than two
TWO_POINT_MARGIN = abs(paper.TWO_POINT["wikipedia"].exponent - paper.TWO_POINT["pg19"].exponent)  # the paper's spread


def split_maximum(mi_by_split: np.ndarray) -> dict:
    """Where I_BP(ℓ) is largest, for ``mi_by_split`` = I_BP(ℓ) at ℓ = 1..L−1: ``ell`` (the first maximum),
    ``max``, ``centre`` (I_BP(L/2)) and ``ratio`` = max / centre."""
    mi = np.asarray(mi_by_split, dtype=float)
    best, centre = int(np.argmax(mi)), (len(mi) + 1) // 2 - 1
    return {"ell": best + 1, "max": float(mi[best]), "centre": float(mi[centre]), "ratio": float(mi[best] / mi[centre])}


def two_point_distances(seq_len: int) -> np.ndarray:
    """d = 1, 2, 4, … up to L/4: the powers of two of chapter 02's measurement on text, kept where the average
    over positions still runs over at least 3/4 of them (past L/4 it falls towards the one antipodal pair)."""
    return 2 ** np.arange(0, int(math.log2(max(seq_len // 4, 1))) + 1)


def two_point_decay(profile: np.ndarray) -> fit.PowerLawFit:
    """A·d^exponent fitted to the averaged two-point MI ``profile`` (d = 1..L−1) at :func:`two_point_distances`;
    the decay exponent α of chapter 02 is −exponent."""
    profile = np.asarray(profile, dtype=float)
    d = two_point_distances(len(profile) + 1)
    return fit.fit_power_law(d, profile[d - 1])


@dataclass(frozen=True)
class GaussianNumbers:
    """What chapter 03 computed, as its claims read it (nats; exponents of L or d)."""

    seq_len: int  # the largest L of the scans
    beta: float  # fitted exponent of the power family's I_BP(L/2), boundary step (symmetric square root)
    beta_sd: float  # its least-squares sd
    beta_tree: float  # the same fit without the boundary step (log_4 3 exactly)
    beta_cholesky: float  # the same fit with the Cholesky boundary map
    log_r2: float  # R² of a + b ln L for the log family
    log_power_r2: float  # R² of A L^β for the log family
    tp_last: float  # antipodal two-point MI at the largest L
    tp_difference: float  # largest relative difference of the antipodal MI between the families
    tree_deviation: float  # largest relative deviation of the plain tree from ½ ln(9/5)·3^(l−1)
    tp_exponent: float  # fitted decay exponent of the antipodal MI from L = 64
    profile_ratio: float  # power / log averaged two-point MI at d = L/4
    profile_L: int  # L of the two-point profiles
    two_point_alpha: float  # decay exponent of the power family's averaged two-point MI at d = 1, 2, 4, … ≤ L/4
    two_point_alpha_sd: float  # its least-squares sd
    marginal_kl: tuple  # learned-nothing average KL at L = 4, 16, … (one per layer)
    split_L: int  # L of the split profiles
    split_power: dict  # split_maximum of the power family
    split_log: dict  # split_maximum of the log family
    centre_dips: bool  # I_BP(L/2) below both neighbours in both families

    @property
    def tp_theory(self) -> float:
        return 2 * math.log(5 / 16, 4)

    @property
    def map_spread(self) -> float:
        return abs(self.beta - self.beta_cholesky)


def chapter_claims(n: GaussianNumbers) -> list[claims.Claim]:
    """Chapter 03's claims table. Rows marked "book" are the chapter's own statements."""
    beta, L = paper.GAUSSIAN_BETA, n.seq_len
    pg19, wiki = paper.TWO_POINT["pg19"], paper.TWO_POINT["wikipedia"]
    exact_why = "exact linear algebra in float64: nothing is sampled"
    return [
        claims.Claim(
            "power family (boundary step): I_BP(L/2) ∝ L^β (Appx. C; Sec. 4.4 of the first version)", f"β = {beta:.2f}",
            f"β = {n.beta:.4f} ± {n.beta_sd:.4f} (L = 4 … {L}); plain tree: {n.beta_tree:.4f} = log_4 3",
            claims.compare(n.beta, n.beta_sd, beta, BETA_DIGITS_MARGIN),
            f"equivalence within {BETA_DIGITS_MARGIN} of {beta:.2f}, 2 sd of the fit: the paper gives two decimals, so "
            f"its β stands for [{beta - BETA_DIGITS_MARGIN:.3f}, {beta + BETA_DIGITS_MARGIN:.3f}]; the plain tree "
            f"(log_4 3 = {math.log(3, 4):.4f}) would hold, so the next row separates the two",
            "the paper does not say which boundary map it used, nor its fit's range of L; the sd is how far the exact "
            "points are from a straight line"),
        claims.Claim(
            "book: the boundary step raises β above the plain tree's log_4 3", "— (the paper gives one β)",
            f"β = {n.beta:.4f} ± {n.beta_sd:.4f} against {n.beta_tree:.4f}",
            claims.exceeds(n.beta, n.beta_sd, n.beta_tree),
            "ordering, 2 sd of the fit, no margin: the plain tree itself (β = log_4 3 exactly) does not hold", exact_why),
        claims.Claim(
            "book: β does not depend on the boundary map", "— (the map is not given)",
            f"|β(square root) − β(Cholesky)| = {n.map_spread:.4f}", claims.exact(n.map_spread < BETA_DIGITS_MARGIN),
            f"below {BETA_DIGITS_MARGIN}: a difference the paper's two decimals could not show", exact_why),
        claims.Claim(
            "log family: I_BP(L/2) grows like ln L (Appx. C)", "∝ ln L",
            f"R² {n.log_r2:.6f} for a + b ln L, {n.log_power_r2:.6f} for A L^β",
            claims.exact(n.log_r2 > n.log_power_r2 and n.log_r2 > 0.999),
            "the logarithm fits better than a power law and leaves < 0.1 % of the variance (R² > 0.999)", exact_why),
        claims.Claim(
            "the families share the two-point MI at maximum separation (Appx. C)", "equal",
            f"{n.tp_last:.3e} nats at L = {L}; largest relative difference {n.tp_difference:.1e}",
            claims.exact(n.tp_difference < EXACT_RTOL), f"equal to a relative {EXACT_RTOL:g} at every L", exact_why),
        claims.Claim(
            "without the boundary step, I_BP(L/2) = ½ ln(9/5)·3^(l−1) (derived in this chapter)", "½ ln(9/5)·3^(l−1)",
            f"largest relative deviation {n.tree_deviation:.1e}", claims.exact(n.tree_deviation < EXACT_RTOL),
            f"equal to a relative {EXACT_RTOL:g}", exact_why),
        claims.Claim(
            "book: the antipodal two-point MI decays as L^(2 log_4(5/16))", "—",
            f"exponent {n.tp_exponent:.5f} against {n.tp_theory:.5f}",
            claims.exact(abs(n.tp_exponent - n.tp_theory) < TP_SLOPE_MARGIN),
            f"within {TP_SLOPE_MARGIN:g}: from L = 64 on r² < 6e-4, and −½ln(1 − r²) = ½r²(1 + r²/2 + …) moves the "
            "slope by less than that", exact_why),
        claims.Claim(
            "book: the two-point MI averaged at a fixed distance differs between the families",
            "— (the paper: at maximum separation only)",
            f"power / log = {n.profile_ratio:,.0f} at d = L/4, L = {n.profile_L}", claims.exact(n.profile_ratio > ORDERS),
            "more than two orders of magnitude at d = L/4", exact_why),
        claims.Claim(
            "the power family's two-point MI decays like language's", f"α = {pg19.exponent} (PG19), {wiki.exponent} "
            "(Wikipedia), Appx. B",
            f"α = {n.two_point_alpha:.3f} ± {n.two_point_alpha_sd:.3f} (averaged over positions, d = 1, 2, 4, … ≤ L/4, "
            f"L = {n.profile_L})",
            claims.compare(n.two_point_alpha, n.two_point_alpha_sd, pg19.exponent, TWO_POINT_MARGIN),
            f"equivalence with PG19's α within {TWO_POINT_MARGIN:.2f}, the spread between the paper's two corpora, 2 sd "
            "of the fit (the profile is jagged: the sd is the scatter of the points about the line)",
            "the averaged two-point MI of the power family barely decays; only the antipodal pair decays fast"),
        claims.Claim(
            "book: the learned-nothing KL grows with L", "—",
            f"{n.marginal_kl[0]:.4f} at L = 4 … {n.marginal_kl[-1]:.4f} at L = {4 ** len(n.marginal_kl)}",
            claims.exact(len(n.marginal_kl) > 1 and bool(np.all(np.diff(n.marginal_kl) > 0))),
            "it must rise at every layer", exact_why),
        claims.Claim(
            "book: the centre cut is a dip of I_BP(ℓ)", "—",
            f"power: {n.split_power['centre']:.3f} at ℓ = L/2; L = {n.split_L}", claims.exact(n.centre_dips),
            "I_BP(L/2) below both neighbours', in both families", exact_why),
        claims.Claim(
            "the equal split carries the most bipartite MI (Sec. 4.3 of the first version, used by its Thm. 5.2)",
            "I_BP(ℓ) largest at ℓ = L/2",
            f"L = {n.split_L}: power {n.split_power['max']:.2f} at ℓ = {n.split_power['ell']} against "
            f"{n.split_power['centre']:.2f} at L/2; log {n.split_log['max']:.3f} at ℓ = {n.split_log['ell']} against "
            f"{n.split_log['centre']:.3f}",
            claims.exact(all(s["max"] <= s["centre"] * (1 + EXACT_RTOL) for s in (n.split_power, n.split_log))),
            "no split may carry more than ℓ = L/2 (to rounding) in either family", exact_why),
    ]
