"""Chapter 06's claims: other MI estimators on exact Gaussian data, the chain rule, predictive information.

The claims are the NeurIPS version's (Appx. B.V, B.VIII and Sec. 4.1). Those about exact quantities (the chain
rule, the entropy identity) are decided outright (:func:`l2m.claims.exact`); those about estimators rest on
samples and use their standard errors (:func:`l2m.claims.exceeds`, :func:`l2m.claims.falls_below`).
"""
from __future__ import annotations

import math

import numpy as np

from . import claims

EXACT_RTOL = 1e-9  # "equal" for float64 sums of ~L logarithms: far above their rounding (~1e-13 relative)
SPREAD_FACTOR = 10  # "high variance when MI is large": the sd over seeds must grow tenfold, beyond the ±50 %
#                     uncertainty of an sd from a few seeds


def _rel_error(table: dict) -> tuple[np.ndarray, np.ndarray]:
    """KSG's relative shortfall 1 − Î/I_BP at each L, and its sd over the independent sample sets."""
    ksg, exact = np.asarray(table["ksg"]), np.asarray(table["exact"])
    rel = 1 - ksg / exact  # (repeats, layers)
    sd = rel.std(axis=0, ddof=1) if len(rel) > 1 else np.full(rel.shape[1], np.nan)
    return rel.mean(axis=0), sd


def estimator_rows(table: dict) -> list[claims.Claim]:
    """InfoNCE ≤ ln K; InfoNCE far below I_BP at the largest L; KSG's error grows with L; NWJ's spread grows."""
    exact, seq_len, batches = np.asarray(table["exact"]), np.asarray(table["seq_len"]), np.asarray(table["batches"])
    nce, nce_se = np.asarray(table["infonce"]), np.asarray(table["infonce_se"])
    excess = float((nce - np.log(batches)[:, None]).max())
    k_top, last = int(batches[-1]), len(exact) - 1
    rel, rel_sd = _rel_error(table)
    nwj = np.asarray(table["nwj"])
    spread = nwj.std(axis=0, ddof=1)
    return [
        claims.Claim("InfoNCE with a batch of K samples cannot exceed ln K", "bounded by log K (Appx. B.V)",
                     f"largest estimate − ln K = {excess:.3f} nats over every L and K ({', '.join(map(str, batches))})",
                     claims.exact(excess <= 1e-6),
                     "exact: every term f_ii − ln Σ_j e^{f_ij} + ln K is ≤ ln K by construction (float32 rounding 1e-6)",
                     "none: a property of the bound"),
        claims.Claim(f"InfoNCE saturates: at L = {int(seq_len[last])} it falls short of I_BP",
                     "cannot reach a large MI (Appx. B.V)",
                     f"{nce[-1, last]:.2f} ± {nce_se[-1, last]:.2f} (K = {k_top}) against I_BP = {exact[last]:.2f} nats",
                     claims.falls_below(nce[-1, last], nce_se[-1, last], exact[last]),
                     f"below I_BP by more than 2 sd of the held-out mean (no margin: I_BP − ln K = "
                     f"{exact[last] - math.log(k_top):.1f} nats is the bound's own gap)",
                     "critic size and training steps change the estimate, not the bound"),
        claims.Claim("the kNN (KSG) estimate's relative error grows with the dimension L/2",
                     "samples needed grow exponentially with dimension (Appx. B.V)",
                     f"1 − Î/I_BP = {rel[0]:.2f} at L = {int(seq_len[0])}, {rel[last]:.2f} at L = {int(seq_len[last])}",
                     claims.exceeds(rel[last], rel_sd[last], rel[0] + 2 * rel_sd[0]),
                     "larger at the largest L than at the smallest by more than 2 sd of each (sd over independent "
                     "sample sets)", "a fixed number of samples at every L; more samples lower both"),
        claims.Claim("an unbounded variational bound (NWJ) varies more as the MI grows",
                     "MINE: high variance when MI is large (Appx. B.V)",
                     f"sd over {nwj.shape[0]} seeds: {spread[0]:.3g} nats at L = {int(seq_len[0])}, "
                     f"{spread[last]:.3g} at L = {int(seq_len[last])}",
                     claims.exceeds(spread[last], 0.0, SPREAD_FACTOR * spread[0]),
                     f"at least {SPREAD_FACTOR}× larger at the largest L: an sd from a few seeds is uncertain by "
                     "about ±50 %, a tenfold rise is not", "more steps or larger batches shrink the spread at small I"),
    ]


def exact_rows(comparison: dict[str, dict[str, float]], split: dict[str, float], seq_len: int) -> list[claims.Claim]:
    """The chain rule sums to I_BP and differs from the two-point sums (both families); H(Y) = H(Y|X) + I."""
    rows = []
    for family, c in comparison.items():
        rows.append(claims.Claim(
            f"{family} family, L = {seq_len}: the chain-rule terms sum to I_BP, the two-point MIs do not",
            "I_BP splits into conditional terms, not two-point MIs (Appx. B.VIII)",
            f"Σ terms − I_BP = {c['residual']:.1e}; Σ two-point / I_BP = {c['ratio']:.3f}",
            claims.exact(abs(c["residual"]) <= EXACT_RTOL * c["I_BP (chain rule)"] and abs(c["ratio"] - 1) > EXACT_RTOL),
            f"exact: equal to {EXACT_RTOL:g} relative (float64 rounding), and the ratio differs from 1 by more",
            "none: exact linear algebra"))
    rows.append(claims.Claim(
        f"H(Y) = H(Y | X) + I(X; Y) (power family, L = {seq_len})", "bipartite MI is predictive information (Sec. 4.1)",
        f"{split['H(Y)']:.3f} = {split['H(Y|X)']:.3f} + {split['I(X;Y)']:.3f} (residual {split['residual']:.1e})",
        claims.exact(abs(split["residual"]) <= EXACT_RTOL * abs(split["H(Y)"])),
        f"exact: three log-determinants, equal to {EXACT_RTOL:g} relative", "none: exact linear algebra"))
    return rows
