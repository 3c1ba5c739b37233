"""Bipartite MI as predictive information, and the chain rule against two-point sums (chapter 06).

The NeurIPS version of the paper (Sec. 4.1) reads the bipartite MI as the *predictive information* of Bialek,
Nemenman and Tishby (2001): how much the past X lowers the entropy of the future Y,

    H(Y) = H(Y | X) + I(X; Y).

By the chain rule both entropies are sums over the tokens of Y of a per-token entropy given some context: Y's own
earlier tokens for H(Y), the whole past for H(Y | X), so I(X; Y) is the sum of the per-token differences, the terms
of :func:`l2m.gaussian.chain_rule_terms` (Appx. B.VIII). Those terms are conditional MIs; the two-point MIs
I(w_s; w_t) summed over the past are not them, and their sum is not I_BP (:func:`two_point_past_sums`).

On the Gaussian families every entropy is exact (differential entropies, nats per channel). On text the scored
passes of chapter 01 give a language model's own estimate: the mean NLL per token against the length of context
it had (:func:`text_predictive_information` reads I(X; Y) off that curve).

The chain-rule terms themselves are exact properties of a covariance and live in :mod:`l2m.gaussian`.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .gaussian import bipartite_mi, chain_rule_terms, conditional_std

HALF_LOG_2PI_E = 0.5 * math.log(2 * math.pi * math.e)  # differential entropy of N(0, 1), nats


def token_entropies(cov: np.ndarray, ell: int) -> dict[str, np.ndarray]:
    """Per-token differential entropies of Y = Z[ell:] given two contexts, nats per channel, each (L − ell,).

    ``"alone"``: H(w_t | w_{ell+1..t−1}), Y read from its own start (context t − ell − 1 tokens); ``"after_x"``:
    H(w_t | w_{1..t−1}), Y read after X (context t − 1 tokens). Their sums are H(Y) and H(Y | X); the difference
    of each pair is the chain-rule term of t.
    """
    n = len(cov)
    if not 1 <= ell <= n - 1:
        raise ValueError(f"split position ell must be from 1 to {n - 1}, not {ell}")
    return {"alone": HALF_LOG_2PI_E + np.log(conditional_std(cov[ell:, ell:])),
            "after_x": HALF_LOG_2PI_E + np.log(conditional_std(cov)[ell:])}


def entropy_split(cov: np.ndarray, ell: int) -> dict[str, float]:
    """H(Y), H(Y | X) and I(X; Y) of the split at ``ell``, exactly (nats per channel), and the identity's residual.

    H(Y) = ½ ln det(2πe Σ_YY) and H(Y | X) = H(X, Y) − H(X) come from log-determinants, independently of the
    per-token sums of :func:`token_entropies`; ``"residual"`` is H(Y) − H(Y | X) − I(X; Y) (zero up to rounding).
    """
    n = len(cov)

    def entropy(block: np.ndarray) -> float:
        return len(block) * HALF_LOG_2PI_E + 0.5 * np.linalg.slogdet(block)[1]

    h_y = entropy(cov[ell:, ell:])
    h_y_given_x = entropy(cov) - entropy(cov[:ell, :ell])
    mi = bipartite_mi(cov, ell)
    return {"H(Y)": float(h_y), "H(Y|X)": float(h_y_given_x), "I(X;Y)": float(mi),
            "residual": float(h_y - h_y_given_x - mi), "tokens of Y": n - ell}


def two_point_past_sums(cov: np.ndarray, ell: int) -> np.ndarray:
    """Σ_{s ≤ ell} I(w_s; w_t) for every t in Y = Z[ell:]: two-point MIs with the past, summed (nats), (L − ell,).

    I(w_s; w_t) = −½ ln(1 − r²_st) for jointly Gaussian pairs. Beside :func:`chain_rule_terms` this is
    what the chain rule is *not*: the sum over t of these is not I_BP (NeurIPS version, Appx. B.VIII).
    """
    std = np.sqrt(np.diag(cov))
    r = cov[:ell, ell:] / np.outer(std[:ell], std[ell:])  # (ell, L − ell) correlations across the cut
    return (-0.5 * np.log1p(-(r**2))).sum(axis=0)


def chain_rule_comparison(cov: np.ndarray, ell: int) -> dict[str, float]:
    """Totals over Y of the chain-rule terms and of the two-point sums, their ratio, and the chain rule's residual
    against :func:`l2m.gaussian.bipartite_mi` (zero up to rounding)."""
    chain, pairs = chain_rule_terms(cov, ell).sum(), two_point_past_sums(cov, ell).sum()
    return {"I_BP (chain rule)": float(chain), "two-point sum": float(pairs), "ratio": float(pairs / chain),
            "residual": float(chain - bipartite_mi(cov, ell))}


def text_predictive_information(nll_by_context: np.ndarray, seq_len: int) -> float:
    """I(X; Y) of the equal split read off a mean-NLL-per-token curve as if the text were stationary (nats).

    ``nll_by_context[c]`` is the mean −ln q(w | c tokens of context) (chapter 01's cost by position: the token at
    position c + 1 after BOS). Y's token k (k = 0..L/2 − 1) has k tokens of context alone and L/2 + k after X, so
    H(Y) − H(Y | X) ≈ Σ_{k < L/2} [nll(k) − nll(k + L/2)]. It differs from the direct estimate of chapter 01 where
    the text is not stationary (windows start at a sentence, Y starts anywhere) and by sampling.
    """
    half = seq_len // 2
    if seq_len < 2 or seq_len > len(nll_by_context):
        raise ValueError(f"seq_len must be from 2 to {len(nll_by_context)}, not {seq_len}")
    nll = np.asarray(nll_by_context, dtype=float)
    return float(np.sum(nll[:half] - nll[half:2 * half]))


def text_measurement(model: str, corpus: str, n_docs: int, max_len: int, k_pairings: int, seed: int = 0,
                     device: str = "auto", other_ratios_max_len: int | None = None) -> object:
    """Chapter 01's measurement (:func:`l2m.bipartite.measure`); with chapter 01's parameters every pass is read
    from its score cache."""
    from . import bipartite, lm, models, passes

    scorer = lm.make_scorer(model, "transformers", models.resolve_device(device).type, "float32")
    return bipartite.measure(scorer, corpus, n_docs, max_len, passes.RATIOS, k_pairings, seed, compression=False,
                             other_max_len=other_ratios_max_len)


def text_table(measurement: object) -> pd.DataFrame:
    """Per L of the equal split: chapter 01's direct estimate (± sem over windows) and the NLL curve's reading."""
    summary = measurement.summary
    equal = np.asarray(summary["ratio"]) == min(np.asarray(summary["ratio"]))
    rows = {int(n): {"direct (chapter 01)": d, "direct sem": s,
                     "from the NLL curve": text_predictive_information(measurement.cost_by_position, int(n))}
            for n, d, s in zip(np.asarray(summary["length"])[equal], np.asarray(summary["direct"])[equal],
                               np.asarray(summary["direct_sem"])[equal], strict=True)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("L").sort_index()
